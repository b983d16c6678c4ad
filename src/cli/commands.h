// The `natpunch` subcommands. Each registers its options on the app and returns a runner.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace natpunch::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // ran, but no answer / refused / failed
inline constexpr int kExitUsage = 2;   // bad command line

using Runner = std::function<int()>;

Runner add_server_command(CLI::App& app);
Runner add_stun_command(CLI::App& app);
Runner add_register_command(CLI::App& app);
Runner add_connect_command(CLI::App& app);
Runner add_agent_command(CLI::App& app);
Runner add_simulate_command(CLI::App& app);
Runner add_nat_type_command(CLI::App& app);
Runner add_key_command(CLI::App& app);
Runner add_portmap_command(CLI::App& app);

}  // namespace natpunch::cli
