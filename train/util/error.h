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

}  // namespace compress
