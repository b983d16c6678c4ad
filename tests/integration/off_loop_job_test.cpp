// io/off_loop_job.h: a blocking job runs off the loop; its end wakes the awaiting coroutine once.
#include "io/off_loop_job.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace natpunch {
namespace {

using namespace std::chrono_literals;

TEST(OffLoopJob, TheLoopRunsOnWhileTheJobBlocksAndResumesOnceWithItsResult) {
  asio::io_context io;
  std::atomic<bool> job_done{false};
  std::optional<int> got;
  bool timer_fired_before_result = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    OffLoopJob<int> job(ex, [&] {
      std::this_thread::sleep_for(300ms);
      job_done = true;
      return 42;
    });
    // The loop is free while the job sleeps: a short timer fires first.
    asio::steady_timer t(ex, 20ms);
    co_await t.async_wait(use_nothrow);
    timer_fired_before_result = !job_done && !job.ended();
    got = co_await job.result();
  }, asio::detached);
  auto handlers = io.run();
  EXPECT_TRUE(timer_fired_before_result);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 42);
  // A 20 ms poll over a 300 ms job would run ≥ 14 handlers; a posted end runs a handful.
  EXPECT_LE(handlers, 10u) << "the await polls instead of being woken";
}

TEST(OffLoopJob, RunDoesNotReturnBeforeTheJobsEndReachedTheLoop) {
  asio::io_context io;
  bool resumed = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto r = co_await off_loop(co_await asio::this_coro::executor, [] {
      std::this_thread::sleep_for(100ms);
      return std::string("mapped");
    });
    resumed = r == "mapped";
  }, asio::detached);
  io.run();
  EXPECT_TRUE(resumed);
}

TEST(OffLoopJob, AJobThatEndedBeforeTheAwaitIsReturnedAtOnce) {
  asio::io_context io;
  std::optional<int> got;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    OffLoopJob<int> job(ex, [] { return 7; });
    asio::steady_timer t(ex, 100ms);
    co_await t.async_wait(use_nothrow);
    EXPECT_TRUE(job.ended());
    got = co_await job.result();
  }, asio::detached);
  io.run();
  EXPECT_EQ(got, 7);
}

TEST(OffLoopJob, AnExceptionInTheJobIsRethrownToTheAwaiter) {
  asio::io_context io;
  std::string caught;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    try {
      co_await off_loop(co_await asio::this_coro::executor, []() -> int { throw std::runtime_error("router gone"); });
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  }, asio::detached);
  io.run();
  EXPECT_EQ(caught, "router gone");
}

}  // namespace
}  // namespace natpunch
