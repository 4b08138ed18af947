#include "relay/pg/server_features.hpp"

namespace outbox_relay::pg {

int ServerFeatures::ProtoVersion() const {
  if (Major() >= 16) return 4;
  if (Major() == 15) return 3;
  if (Major() == 14) return 2;
  return 1;
}

std::string StartReplicationCommand(const ServerFeatures& server, std::string_view slot, Lsn start,
                                    std::string_view publications) {
  std::string command = "START_REPLICATION SLOT ";
  command.append(slot).append(" LOGICAL ").append(start.ToString());
  command.append(" (proto_version '").append(std::to_string(server.ProtoVersion())).append("', ");
  command.append("publication_names ").append(publications);
  if (server.LogicalMessages()) command.append(", messages 'true'");
  command.append(")");
  return command;
}

std::string CreateSlotCommand(const ServerFeatures& server, std::string_view slot, bool failover) {
  std::string command = "CREATE_REPLICATION_SLOT ";
  command.append(slot).append(" LOGICAL pgoutput");
  if (!server.SlotOptionList()) return command.append(" NOEXPORT_SNAPSHOT");
  command.append(" (SNAPSHOT 'nothing'");
  if (failover && server.FailoverSlots()) command.append(", FAILOVER true");
  return command.append(")");
}

}  // namespace outbox_relay::pg
