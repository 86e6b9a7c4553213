// The one translation unit that compiles Boost.Asio (with its TLS support) and Boost.Beast
// (separate compilation keeps their heavy implementation out of every other file).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
