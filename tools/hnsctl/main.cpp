// hnsctl: HNS networks, endpoints, namespaces, policies and load balancers, from the
// shell, as `hnsctl [options] OBJECT VERB [arguments]`.
#include <signal.h>

#include "objects.hpp"

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  hnsctl::Globals globals;
  int exit_code = 0;
  CLI::App app{"hnsctl: HNS networks, endpoints, namespaces, policies and load balancers", "hnsctl"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hnsctl " HCSKIT_VERSION);
  hcs::cli::add_globals(app, globals);
  hnsctl::add_network(app, globals, exit_code);
  hnsctl::add_endpoint(app, globals, exit_code);
  hnsctl::add_namespace(app, globals, exit_code);
  hnsctl::add_policy(app, globals, exit_code);
  hnsctl::add_loadbalancer(app, globals, exit_code);
  hnsctl::add_features(app, globals, exit_code);
  hnsctl::add_list(app, globals, exit_code);
  if (auto rc = hcs::cli::parse(app, argc, argv)) return *rc;
  return exit_code;
}
