// uvmctl's verbs: each file adds its subcommand to the CLI and runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli.hpp"
#include "hcs/bridge/run.hpp"
#include "hcs/core/json.hpp"
#include "hcs/uvm/network.hpp"
#include "hcs/uvm/options.hpp"

namespace uvmctl {

using Globals = hcs::cli::Globals;

// The flags of every verb that waits for a gcs and relays the caller's stdio to it.
struct SessionFlags {
  std::string listen;
  bool interactive = false, tty = false, guest_log = false;
  std::vector<std::string> env;
  unsigned timeout_s = 120;
  // Adds -i, -t, -e, --timeout and --guest-log (and --listen when `listen`); `what`
  // names what runs.
  void add_to(CLI::App& cmd, const std::string& what, bool listen = true);
  // Fills the session part of a verb's options.
  void apply(hcs::bridge::SessionOptions& options) const;
  // The -e KEY=VALUE pairs; throws ErrInvalidArg for one without '='.
  std::map<std::string, std::string> environment() const;
};

// The flags that describe a utility VM (run and create).
struct VmFlags {
  std::string id, boot_files, kernel, initrd, kernel_args, accel = "auto", qemu = "qemu-system-x86_64";
  uint64_t memory_mb = 1024;
  uint32_t cpus = 2;
  hcs::uvm::VmNetwork network;
  void add_to(CLI::App& cmd);
  hcs::uvm::Options options() const;
};

// `uvmctl run`: boot a VM, run a command (or a bundle) in it, tear it down.
void add_run(CLI::App& app, Globals& globals, int& exit_code);
// Long-lived VMs, each verb in its own file.
void add_create(CLI::App& app, Globals& globals, int& exit_code);
void add_start(CLI::App& app, Globals& globals, int& exit_code);
void add_exec(CLI::App& app, Globals& globals, int& exit_code);
void add_list(CLI::App& app, Globals& globals, int& exit_code);
void add_inspect(CLI::App& app, Globals& globals, int& exit_code);
void add_console_and_logs(CLI::App& app, Globals& globals, int& exit_code);
void add_stop_and_kill(CLI::App& app, Globals& globals, int& exit_code);
void add_pause_and_resume(CLI::App& app, Globals& globals, int& exit_code);
void add_delete(CLI::App& app, Globals& globals, int& exit_code);
void add_disk(CLI::App& app, Globals& globals, int& exit_code);
void add_share(CLI::App& app, Globals& globals, int& exit_code);

// Sets up logging and runs `body` under hcs::cli::guard; its result is the exit code.
int run_verb(const Globals& globals, const std::function<int()>& body);
using hcs::cli::state_root;
// Sends an HCS ModifySettingRequest to a running VM's owner.
void modify_vm(const Globals& globals, const std::string& id, const hcs::Json& request);
// `uvmctl bootfiles build`: the utility VM's kernel and initrd.
void add_bootfiles(CLI::App& app, Globals& globals, int& exit_code);

// `uvmctl gcs exec`: run a command through a gcs that dials in.
void add_gcs_exec(CLI::App& gcs, Globals& globals, int& exit_code);
// `uvmctl gcs run`: run an OCI bundle as a container through a gcs that dials in.
void add_gcs_run(CLI::App& gcs, Globals& globals, int& exit_code);

}  // namespace uvmctl
