// uvmctl console ID [-f] and uvmctl logs ID [-f]: the VM's serial console and its gcs's
// log, printed or followed while the VM's owner lives.
#include <poll.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "hcs/state/store.hpp"
#include "verbs.hpp"

namespace uvmctl {

// Copies `file` to stdout; with `follow`, keeps copying what is appended until the
// owner of the VM is gone.
static int print_file(hcs::state::Store& store, const std::string& id, const std::string& name, bool follow) {
  hcs::state::check_id(id);
  if (!store.alive("vm", id)) throw hcs::Error(hcs::hr::VmcomputeSystemNotFound, "no VM '" + id + "'");
  const std::string path = store.dir("vm", id) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  char buf[65536];
  for (;;) {
    while (in) {
      in.read(buf, sizeof buf);
      if (in.gcount() > 0) std::cout.write(buf, in.gcount());
    }
    std::cout.flush();
    if (!follow || !store.alive("vm", id)) return 0;
    in.clear();
    if (!in.is_open()) in.open(path, std::ios::binary);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void add_console_and_logs(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags {
    std::string id;
    bool follow = false;
  };
  for (auto [verb, file, help] : {std::tuple{"console", "console.log", "print the VM's serial console (kernel and init)"},
                                  {"logs", "gcs.log", "print the log of the VM's gcs (JSON lines)"}}) {
    auto flags = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand(verb, help);
    cmd->add_option("id", flags->id, "the VM")->required();
    cmd->add_flag("-f,--follow", flags->follow, "keep printing what is added until the VM is deleted");
    cmd->callback([flags, file = std::string(file), &globals, &exit_code] {
      exit_code = run_verb(globals, [&] {
        hcs::state::Store store(state_root(globals));
        return print_file(store, flags->id, file, flags->follow);
      });
    });
  }
}

}  // namespace uvmctl
