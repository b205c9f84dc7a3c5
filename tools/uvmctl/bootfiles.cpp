// uvmctl bootfiles build [--dir DIR] [--kernel-package PKG] [--gcs PATH] [--init PATH] [--force]
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/log.hpp"
#include "hcs/uvm/bootfiles.hpp"
#include "verbs.hpp"

namespace uvmctl {

namespace {

std::string megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", double(bytes) / 1e6);
  return text;
}

void print(const hcs::uvm::BootFiles& b, bool json) {
  if (json) {
    hcs::Json j = {{"kernel", b.kernel},           {"kernel_size", b.kernel_size}, {"initrd", b.initrd},
                   {"initrd_size", b.initrd_size}, {"kernel_version", b.kernel_version},
                   {"kernel_package", b.kernel_package}, {"modules", b.modules},   {"rebuilt", b.rebuilt}};
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::string modules;
  for (const auto& m : b.modules) modules += (modules.empty() ? "" : " ") + m;
  const std::pair<const char*, std::string> rows[] = {
      {"KERNEL", b.kernel + " (" + megabytes(b.kernel_size) + ")"},
      {"INITRD", b.initrd + " (" + megabytes(b.initrd_size) + ")"},
      {"VERSION", b.kernel_version},
      {"PACKAGE", b.kernel_package},
      {"MODULES", modules},
      {"STATUS", b.rebuilt ? "built" : "up to date"},
  };
  for (const auto& [key, value] : rows) std::printf("%-8s %s\n", key, value.c_str());
}

}  // namespace

void add_bootfiles(CLI::App& app, Globals& globals, int& exit_code) {
  auto* group = app.add_subcommand("bootfiles", "the utility VM's kernel and initrd");
  group->require_subcommand(1);
  auto opts = std::make_shared<hcs::uvm::BootFilesOptions>();
  opts->dir = hcs::uvm::default_boot_files_dir();
  auto* cmd = group->add_subcommand(
      "build",
      "build vmlinux and initrd.img from a Debian kernel package, the gcs, hcs-init, busybox, runc and crun "
      "(only what is out of date)");
  cmd->add_option("--dir", opts->dir, "output directory (default: $HCSKIT_BOOT_FILES, else /var/lib/hcskit/boot)")
      ->capture_default_str();
  cmd->add_option("--kernel-package", opts->kernel_package,
                  "linux-image-<version>-amd64 package or .deb file (default: the newest apt-cache knows)");
  cmd->add_option("--gcs", opts->gcs, "static gcs binary (default: from this build tree or install)");
  cmd->add_option("--init", opts->init, "static hcs-init binary (default: from this build tree or install)");
  cmd->add_flag("--force", opts->force, "rebuild even when up to date");
  cmd->callback([opts, &globals, &exit_code] {
    exit_code = hcs::cli::guard("uvmctl", globals.json(), [&] {
      hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
      if (::isatty(STDERR_FILENO)) std::cerr << "uvmctl: building boot files in " << opts->dir << "...\n";
      print(hcs::uvm::build_boot_files(*opts), globals.json());
      return 0;
    });
  });
}

}  // namespace uvmctl
