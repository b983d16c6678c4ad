// The Asio C++20 coroutine vocabulary natpunch uses (Debian's Asio 1.22): errors as values and
// timeouts by racing a timer (STYLE.md example 10).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace natpunch {
inline constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
using namespace asio::experimental::awaitable_operators;
}  // namespace natpunch
