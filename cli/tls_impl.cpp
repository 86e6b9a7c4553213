// Boost.Asio's TLS support, compiled once for kiwictl (kiwi_common compiles the rest of Asio and
// Beast in common/asio_impl.cpp; only the client speaks https).
#include <boost/asio/ssl/impl/src.hpp>
