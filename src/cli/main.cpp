// natpunch: direct connections between devices behind NATs. See README.md.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace natpunch::cli;
  CLI::App app{"natpunch: connect two devices behind NATs directly (rendezvous server, STUN, hole punching)"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  natpunch server --listen 0.0.0.0:3478\n"
      "  natpunch stun --server 127.0.0.1:3478 --json\n"
      "  natpunch register --server 127.0.0.1:3478 --id alice\n"
      "Run 'natpunch SUBCOMMAND --help' for the options of each.");
  app.set_version_flag("--version", "natpunch 0.1.0");

  const std::pair<const char*, Runner> runners[] = {
      {"server", add_server_command(app)},
      {"stun", add_stun_command(app)},
      {"register", add_register_command(app)},
      {"agent", add_agent_command(app)},
      {"connect", add_connect_command(app)},
      {"simulate", add_simulate_command(app)},
      {"nat-type", add_nat_type_command(app)},
      {"key", add_key_command(app)},
      {"portmap", add_portmap_command(app)},
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  for (const auto& [name, run] : runners) {
    if (!app.got_subcommand(name)) continue;
    try {
      return run();
    } catch (const std::exception& e) {
      std::cerr << "natpunch: " << e.what() << std::endl;
      return kExitFailed;
    }
  }
  return kExitUsage;
}
