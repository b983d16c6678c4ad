// Small pieces every client subcommand shares: running one coroutine to completion, the local
// address toward a server, and printing results for humans or as one JSON object.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "io/awaitable.h"
#include "wire/result.h"
#include "wire/retransmit.h"

namespace natpunch::cli {

template <class T>
asio::awaitable<void> store_result(asio::awaitable<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}

// Runs `task` on `io` until it finishes and returns its value.
template <class T>
T run_to_completion(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, store_result(std::move(task), out), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

// The local IP the OS would use toward `server`, with `port` (no packet is sent).
std::string local_toward(asio::io_context& io, const asio::ip::udp::endpoint& server, std::uint16_t port);

RetransmitPolicy client_policy(double timeout_s, int rto_ms);

struct ClientSocket {
  asio::ip::udp::endpoint server;
  asio::ip::udp::socket socket;
};
struct CommandError {
  std::string message;
  int exit_code;
};
// Resolves --server, parses --bind (may be empty) and opens the UDP socket toward the server.
Result<ClientSocket, CommandError> open_client_socket(asio::io_context& io, const std::string& server,
                                                      const std::string& bind);

// One JSON object as one line. Text from the network is escaped where it is read
// (wire/escape.h); invalid UTF-8 that still got here becomes U+FFFD instead of an exception, so
// --json output is always JSON.
std::string json_text(const nlohmann::json& j);

// Prints an error for a person (stderr) or as {"ok":false,"error":…} (stdout) and returns code.
int report_failure(bool json, const std::string& message, int code, nlohmann::json extra = {});

double ms(std::chrono::microseconds d);

// The contents of a small configuration file, read with a bound: an error names the file and says
// whether it could not be opened or is larger than `max_bytes`.
Result<std::string, std::string> read_small_file(const std::string& path, std::size_t max_bytes);

}  // namespace natpunch::cli
