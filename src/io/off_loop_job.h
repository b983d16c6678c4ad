// A blocking job (a port mapper's exchange with the router: bounded by its own timeouts) run on its
// own thread while the event loop goes on. The job's end is posted to the loop, which wakes the one
// coroutine awaiting result(): no polling, and the loop never blocks on the job while it runs.
//
// Lifetime: the job holds a work guard, so io_context::run() does not return before the job has ended
// and its result reached the loop. Destroying an OffLoopJob whose job still runs (its awaiting
// coroutine was cancelled) joins the thread: that blocks the loop for what remains of the job's bound.
#pragma once

#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "io/awaitable.h"

namespace natpunch {

template <typename R>
class OffLoopJob {
 public:
  template <typename F>
  OffLoopJob(asio::any_io_executor ex, F job) : state_(std::make_shared<State>(ex)) {
    thread_ = std::thread([state = state_, work = asio::make_work_guard(ex), job = std::move(job)]() mutable {
      std::optional<R> value;
      std::exception_ptr error;
      try {
        value.emplace(job());
      } catch (...) {
        error = std::current_exception();
      }
      // Everything the loop reads is handed over here, on the loop's own thread.
      asio::post(work.get_executor(), [state, value = std::move(value), error]() mutable {
        state->value = std::move(value);
        state->error = error;
        state->ended = true;
        state->wake.cancel();
      });
      work.reset();
    });
  }
  OffLoopJob(const OffLoopJob&) = delete;
  OffLoopJob& operator=(const OffLoopJob&) = delete;
  ~OffLoopJob() {
    if (thread_.joinable()) thread_.join();
  }

  // True once the job's end has reached the loop.
  bool ended() const { return state_->ended; }

  // The job's result (its exception rethrown); awaited once, from a coroutine on the job's executor.
  asio::awaitable<R> result() {
    while (!state_->ended) co_await state_->wake.async_wait(use_nothrow);
    if (state_->error) std::rethrow_exception(state_->error);
    co_return std::move(*state_->value);
  }

 private:
  struct State {
    explicit State(const asio::any_io_executor& ex) : wake(ex, asio::steady_timer::time_point::max()) {}
    bool ended = false;
    std::optional<R> value;
    std::exception_ptr error;
    asio::steady_timer wake;  // never expires: cancelled when the job's end arrives
  };
  std::shared_ptr<State> state_;
  std::thread thread_;
};

// Runs job() off the loop and resumes with its result.
template <typename F>
asio::awaitable<decltype(std::declval<F>()())> off_loop(asio::any_io_executor ex, F job) {
  OffLoopJob<decltype(std::declval<F>()())> running(ex, std::move(job));
  co_return co_await running.result();
}

}  // namespace natpunch
