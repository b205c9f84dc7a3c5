// hcs-vmhost --root R --id ID: the owner process of one utility VM, spawned detached by
// `uvmctl create` (hcs::uvm::create_vm), never by hand. Its stdout and stderr are the
// VM's vmhost.log. It is a separate static program, not a verb of uvmctl, because it
// lives as long as its VM: linked statically with --gc-sections it keeps about a third
// of the memory a process mapping libhcs.so, libprotobuf and libstdc++ keeps resident.
#include <signal.h>

#include <iostream>
#include <string>
#include <string_view>

#include "hcs/core/error.hpp"
#include "hcs/core/log.hpp"
#include "hcs/uvm/vmhost.hpp"

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  std::string root, id;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--root" || arg == "--id") && i + 1 < argc) (arg == "--root" ? root : id) = argv[++i];
    else {
      std::cerr << "hcs-vmhost: unexpected argument '" << arg << "' (usage: hcs-vmhost --root DIR --id ID)\n";
      return 125;
    }
  }
  if (root.empty() || id.empty()) {
    std::cerr << "hcs-vmhost: usage: hcs-vmhost --root DIR --id ID (it is started by uvmctl create)\n";
    return 125;
  }
  hcs::log::setup_stderr(hcs::log::Format::Text, spdlog::level::debug);
  try {
    return hcs::uvm::run_vmhost(root, id);
  } catch (const hcs::Error& e) {
    std::cerr << "hcs-vmhost: " << e.text() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "hcs-vmhost: " << e.what() << "\n";
  }
  return 125;
}
