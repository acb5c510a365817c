// A downstream program: includes the umbrella header and calls into the library.
#include <nde/nde.hpp>

#include <cstdio>
#include <string>

int main() {
  const nde::error e(nde::status::invalid_input, "consumer check");
  if (e.code() != nde::status::invalid_input) return 1;
  std::printf("nde %s\n", nde::version_string);
  return std::string(nde::version_string).empty() ? 1 : 0;
}
