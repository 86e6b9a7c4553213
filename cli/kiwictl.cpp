// kiwictl: the command-line client of Kiwi's REST API (docs/kiwictl.md). Being written.
#include <cstdio>
int main() {
  std::fprintf(stderr, "kiwictl: not built yet\n");
  return 2;
}
