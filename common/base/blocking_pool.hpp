#pragma once
// Runs blocking work (libgit2, file system) on a thread pool and resumes the awaiting coroutine
// on its own executor, so I/O threads never block.

#include <exception>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kiwi {

// Not itself a coroutine (GCC 12 mishandles lambda arguments of coroutines): it returns the
// awaitable operation. `home` is the executor the caller resumes on.
template <class F, class R = std::invoke_result_t<F&>>
boost::asio::awaitable<R> run_blocking(boost::asio::thread_pool& pool,
                                       boost::asio::any_io_executor home, F work) {
  namespace asio = boost::asio;
  return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, R)>(
      [&pool, home, work = std::move(work)](auto handler) mutable {
        asio::post(pool, [home, work = std::move(work), handler = std::move(handler)]() mutable {
          std::exception_ptr error;
          R result{};
          try {
            result = work();
          } catch (...) {
            error = std::current_exception();
          }
          asio::post(home, [handler = std::move(handler), error, result = std::move(result)]()
                               mutable { std::move(handler)(error, std::move(result)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace kiwi
