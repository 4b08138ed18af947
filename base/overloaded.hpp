#pragma once

namespace outbox_relay::base {

/// One visitor from several lambdas, for std::visit over a variant: each alternative gets the
/// lambda that takes it, and a missing one is a compile error rather than a silent default.
template <class... Handlers>
struct Overloaded : Handlers... {
  using Handlers::operator()...;
};
template <class... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

}  // namespace outbox_relay::base
