// User-facing errors: a one-line cause that names the file and the field.
// The CLI prints `error: <what()>` and exits 1; nothing here ever aborts.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace compress {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A mistake in the command line itself (a malformed `-o`, a bad flag value):
// the CLI prints the message and the subcommand's usage, and exits 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// fail("file ", path, ": key '", key, "' ...") -> throws compress::Error.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw Error(os.str());
}

// usage_fail("--ratios: ", v, " is outside [0, 1)") -> throws compress::UsageError.
template <typename... Args>
[[noreturn]] void usage_fail(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw UsageError(os.str());
}

}  // namespace compress
