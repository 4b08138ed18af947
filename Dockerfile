# The outbox-relay image: built on Debian 12, run on Debian 12 slim with only the runtime
# libraries (packaging/runtime-packages.txt), as the unprivileged uid 10001. No HEALTHCHECK:
# Kubernetes probes GET /healthz and /readyz (helm/outbox-relay/).
#
#   docker build -t outbox-relay:0.1.0 .
#   docker run --rm -v $PWD/relay.yaml:/etc/outbox-relay/relay.yaml:ro -p 9742:9742 outbox-relay:0.1.0
#
# tests/packaging/image_test.sh (ctest packaging.image, `scripts/test.sh --long`) builds this file
# with podman and runs the image against real PostgreSQL and Kafka, as uid 10001 with a read-only
# root file system. scripts/runtime-layout.sh builds the same runtime layout into a directory,
# and tests/packaging/runtime_layout_test.sh checks it in every CI run (the binary loads nothing
# outside the listed packages and starts).

FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
COPY packaging/build-packages.txt /tmp/build-packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(sed -e 's/#.*//' /tmp/build-packages.txt) \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOUTBOX_RELAY_TESTS=OFF \
 && cmake --build /build --target outbox-relay \
 && strip /build/outbox-relay \
 && /build/outbox-relay version

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
COPY packaging/runtime-packages.txt /usr/share/outbox-relay/runtime-packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      $(sed -e 's/#.*//' /usr/share/outbox-relay/runtime-packages.txt) \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 outbox-relay \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin outbox-relay
COPY --from=build /build/outbox-relay /usr/local/bin/outbox-relay
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 9742
ENTRYPOINT ["/usr/local/bin/outbox-relay"]
CMD ["run", "--config", "/etc/outbox-relay/relay.yaml"]
