// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation keeps
// their heavy implementation out of every other file).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
