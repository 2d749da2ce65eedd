// The pod sandbox ("pause") container of the local cluster's node: holds the
// pod's namespaces, reaps orphans, exits on SIGINT/SIGTERM. Built static by
// hack/node-images.sh into a FROM-scratch image (no registry to pull
// registry.k8s.io/pause from).
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdlib>

namespace {

void Quit(int /*sig*/) { _exit(0); }

void Reap(int /*sig*/) {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

int main() {
  struct sigaction quit = {};
  quit.sa_handler = Quit;
  sigaction(SIGINT, &quit, nullptr);
  sigaction(SIGTERM, &quit, nullptr);
  struct sigaction reap = {};
  reap.sa_handler = Reap;
  reap.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &reap, nullptr);
  for (;;) pause();
}
