// uvm/bootfiles: the pure parts (XZ offset, ELF sections, .modinfo, module order, ldd
// output, versions, the cpio writer). No network, no packages, no root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "hcs/core/error.hpp"
#include "hcs/uvm/bootfiles.hpp"

namespace bootfiles_test {

namespace bf = hcs::uvm::bootfiles;
using namespace std::string_literals;

namespace {

// A minimal ELF64 little-endian relocatable: a null section, .shstrtab and one section
// `name` holding `body`.
std::string make_elf(const std::string& name, const std::string& body) {
  std::string strtab = "\0.shstrtab\0"s + name + "\0"s;
  std::string elf(64, '\0');
  auto put = [](std::string& s, size_t off, uint64_t v, int bytes) {
    if (s.size() < off + size_t(bytes)) s.resize(off + size_t(bytes));
    for (int i = 0; i < bytes; ++i) s[off + size_t(i)] = char((v >> (8 * i)) & 0xFF);
  };
  elf.replace(0, 4, "\x7f" "ELF");
  elf[4] = 2;  // 64-bit
  elf[5] = 1;  // little-endian
  elf[6] = 1;
  put(elf, 16, 1, 2);   // ET_REL
  put(elf, 18, 62, 2);  // x86-64
  const size_t strtab_off = elf.size();
  elf += strtab;
  const size_t body_off = elf.size();
  elf += body;
  while (elf.size() % 8) elf += '\0';
  const size_t shoff = elf.size();
  elf.resize(shoff + 3 * 64, '\0');
  put(elf, 0x28, shoff, 8);
  put(elf, 0x3A, 64, 2);  // shentsize
  put(elf, 0x3C, 3, 2);   // shnum
  put(elf, 0x3E, 1, 2);   // shstrndx
  auto section = [&](int i, uint32_t name_off, size_t off, size_t size) {
    size_t sh = shoff + size_t(i) * 64;
    put(elf, sh, name_off, 4);
    put(elf, sh + 0x18, off, 8);
    put(elf, sh + 0x20, size, 8);
  };
  section(1, 1, strtab_off, strtab.size());
  section(2, 11, body_off, body.size());
  return elf;
}

struct CpioEntry {
  std::string name, data;
  uint32_t mode = 0, rdev_major = 0, rdev_minor = 0, uid = 1, gid = 1;
};

// Reads back a newc archive, checking its alignment as it goes.
std::vector<CpioEntry> read_cpio(const std::string& a) {
  std::vector<CpioEntry> out;
  size_t off = 0;
  auto field = [&](int i) { return uint32_t(std::stoul(a.substr(off + 6 + size_t(i) * 8, 8), nullptr, 16)); };
  for (;;) {
    EXPECT_EQ(off % 4, 0u);
    EXPECT_EQ(a.substr(off, 6), "070701");
    CpioEntry e;
    e.mode = field(1);
    e.uid = field(2);
    e.gid = field(3);
    uint32_t size = field(6);
    e.rdev_major = field(9);
    e.rdev_minor = field(10);
    uint32_t namesize = field(11);
    e.name = a.substr(off + 110, namesize - 1);
    EXPECT_EQ(a[off + 110 + namesize - 1], '\0');
    off = (off + 110 + namesize + 3) & ~size_t(3);
    e.data = a.substr(off, size);
    off = (off + size + 3) & ~size_t(3);
    if (e.name == "TRAILER!!!") break;
    out.push_back(e);
  }
  EXPECT_EQ(off, a.size());
  return out;
}

}  // namespace

TEST(BootFilesXz, FindsTheMagic) {
  const std::string magic = "\xFD" "7zXZ\0"s;
  EXPECT_FALSE(bf::find_xz_magic("MZ no xz here"));
  EXPECT_FALSE(bf::find_xz_magic("\xFD" "7zXZ"));  // truncated: no NUL
  EXPECT_EQ(bf::find_xz_magic(magic + "rest"), 0u);
  std::string image = "bzImage header" + magic + "stream" + magic + "more";
  auto first = bf::find_xz_magic(image);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 14u);
  auto second = bf::find_xz_magic(image, *first + 1);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, 14u + 6 + 6);
  EXPECT_FALSE(bf::find_xz_magic(image, *second + 1));
  EXPECT_FALSE(bf::find_xz_magic(image, image.size() + 10));
}

TEST(BootFilesElf, RecognisesAnX86KernelImage) {
  std::string head(64, '\0');
  head.replace(0, 4, "\x7f" "ELF");
  head[4] = 2;
  head[5] = 1;
  head[16] = 2;   // ET_EXEC
  head[18] = 62;  // x86-64
  EXPECT_TRUE(bf::is_elf_kernel(head));
  std::string rel = head;
  rel[16] = 1;  // a relocatable (.ko) is not bootable
  EXPECT_FALSE(bf::is_elf_kernel(rel));
  std::string arm = head;
  arm[18] = char(183);
  EXPECT_FALSE(bf::is_elf_kernel(arm));
  EXPECT_FALSE(bf::is_elf_kernel("\x7f" "ELF"));
  EXPECT_FALSE(bf::is_elf_kernel("MZ" + std::string(62, '\0')));
}

TEST(BootFilesElf, FindsASectionByName) {
  const std::string body = "name=overlay\0depends=\0"s;
  std::string elf = make_elf(".modinfo", body);
  auto s = bf::elf_section(elf, ".modinfo");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, body);
  EXPECT_FALSE(bf::elf_section(elf, ".text"));
  auto names = bf::elf_section(elf, ".shstrtab");
  ASSERT_TRUE(names);
  EXPECT_EQ(names->substr(1, 9), ".shstrtab");
}

TEST(BootFilesElf, RejectsBrokenFiles) {
  std::string elf = make_elf(".modinfo", "name=x\0"s);
  EXPECT_THROW(bf::elf_section("not an elf at all, but long enough to hold a header ..........", ".modinfo"),
               hcs::Error);
  EXPECT_THROW(bf::elf_section(elf.substr(0, 70), ".modinfo"), hcs::Error);  // tables cut off
  std::string elf32 = elf;
  elf32[4] = 1;
  EXPECT_THROW(bf::elf_section(elf32, ".modinfo"), hcs::Error);
  std::string wild = elf;
  wild[0x28 + 7] = 0x7F;  // section header table far past the end
  EXPECT_THROW(bf::elf_section(wild, ".modinfo"), hcs::Error);
}

TEST(BootFilesModules, NamesAreNormalised) {
  EXPECT_EQ(bf::module_name("t10-pi"), "t10_pi");
  EXPECT_EQ(bf::module_name("kernel/lib/crc-t10dif.ko"), "crc_t10dif");
  EXPECT_EQ(bf::module_name("virtio_mmio.ko"), "virtio_mmio");
  EXPECT_EQ(bf::module_name("9pnet_virtio"), "9pnet_virtio");
}

TEST(BootFilesModules, ParsesModinfo) {
  auto info = bf::parse_modinfo("license=GPL\0depends=scsi_mod,t10-pi\0\0\0name=sd_mod\0vermagic=6.1.0 SMP\0"s,
                                "sd_mod.ko");
  EXPECT_EQ(info.name, "sd_mod");
  EXPECT_EQ(info.depends, (std::vector<std::string>{"scsi_mod", "t10_pi"}));

  auto none = bf::parse_modinfo("depends=\0name=virtio_ring\0"s, "virtio_ring.ko");
  EXPECT_TRUE(none.depends.empty());

  auto unnamed = bf::parse_modinfo("depends=a-b\0author=x\0"s, "dir/crc-t10dif.ko");
  EXPECT_EQ(unnamed.name, "crc_t10dif");
  EXPECT_EQ(unnamed.depends, (std::vector<std::string>{"a_b"}));

  auto garbage = bf::parse_modinfo("no equals sign\0\0"s, "m.ko");
  EXPECT_EQ(garbage.name, "m");
  EXPECT_TRUE(garbage.depends.empty());
}

TEST(BootFilesModules, OrdersDependenciesFirstAndOnce) {
  std::map<std::string, bf::ModInfo> mods = {
      {"virtio_ring", {"virtio_ring", {}}},
      {"virtio", {"virtio", {}}},
      {"virtio_mmio", {"virtio_mmio", {"virtio", "virtio_ring"}}},
      {"virtio_console", {"virtio_console", {"virtio", "virtio_ring"}}},
      {"sd_mod", {"sd_mod", {"scsi_mod", "t10_pi"}}},
      {"scsi_mod", {"scsi_mod", {"scsi_common"}}},
      {"scsi_common", {"scsi_common", {}}},
      {"t10_pi", {"t10_pi", {"crc_t10dif"}}},
  };
  auto order = bf::load_order({"virtio_mmio", "virtio_console", "sd_mod"}, mods, {"crc_t10dif"});
  EXPECT_EQ(order, (std::vector<std::string>{"virtio", "virtio_ring", "virtio_mmio", "virtio_console", "scsi_common",
                                             "scsi_mod", "t10_pi", "sd_mod"}));
  // Asked for with a dash, found with an underscore.
  EXPECT_EQ(bf::load_order({"t10-pi"}, mods, {"crc_t10dif"}), (std::vector<std::string>{"t10_pi"}));
  // A built-in module is never loaded, nor are its dependencies looked for.
  EXPECT_TRUE(bf::load_order({"sd_mod"}, {}, {"sd_mod"}).empty());
}

TEST(BootFilesModules, MissingModulesAndCyclesAreErrors) {
  std::map<std::string, bf::ModInfo> mods = {
      {"a", {"a", {"b"}}},
      {"b", {"b", {"c"}}},
      {"c", {"c", {"a"}}},
      {"d", {"d", {"gone"}}},
  };
  try {
    bf::load_order({"d"}, mods, {});
    FAIL() << "no error for a missing module";
  } catch (const hcs::Error& e) {
    EXPECT_EQ(e.code(), hcs::hr::ErrNotFound);
    EXPECT_NE(e.text().find("gone"), std::string::npos);
    EXPECT_NE(e.text().find("d -> gone"), std::string::npos);
  }
  try {
    bf::load_order({"a"}, mods, {});
    FAIL() << "no error for a cycle";
  } catch (const hcs::Error& e) {
    EXPECT_EQ(e.code(), hcs::hr::ErrInvalidArg);
    EXPECT_NE(e.text().find("a -> b -> c -> a"), std::string::npos);
  }
}

TEST(BootFilesLdd, TakesLibrariesAndTheLoader) {
  const char* out =
      "\tlinux-vdso.so.1 (0x00007ffc1d9e5000)\n"
      "\tlibseccomp.so.2 => /lib/x86_64-linux-gnu/libseccomp.so.2 (0x00007f57d5b92000)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f57d59b0000)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f57d5bc7000)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f57d59b0000)\n";
  EXPECT_EQ(bf::parse_ldd(out), (std::vector<std::string>{"/lib/x86_64-linux-gnu/libseccomp.so.2",
                                                          "/lib/x86_64-linux-gnu/libc.so.6",
                                                          "/lib64/ld-linux-x86-64.so.2"}));
  EXPECT_TRUE(bf::parse_ldd("\tstatically linked\n").empty());
  EXPECT_THROW(bf::parse_ldd("\tlibyajl.so.2 => not found\n"), hcs::Error);
}

TEST(BootFilesVersions, CompareNumerically) {
  EXPECT_GT(bf::compare_versions("6.1.0-57", "6.1.0-9"), 0);
  EXPECT_LT(bf::compare_versions("6.1.0-9", "6.1.0-57"), 0);
  EXPECT_EQ(bf::compare_versions("6.1.0-57", "6.1.0-57"), 0);
  EXPECT_GT(bf::compare_versions("6.10.0-1", "6.9.0-30"), 0);
  EXPECT_GT(bf::compare_versions("6.1.0-057", "6.1.0-56"), 0);
  EXPECT_LT(bf::compare_versions("6.1.0", "6.1.0-1"), 0);
}

TEST(BootFilesCpio, WritesNewcWithParentsFirst) {
  std::string archive;
  bf::CpioWriter w([&](std::string_view d) { archive.append(d); });
  w.directory("tmp", 01777);
  w.char_device("/dev/console", 5, 1);
  w.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  w.symlink("bin/sh", "busybox");
  w.file("lib/modules/6.1.0-57-amd64/kernel/fs/overlayfs/overlay.ko", "abc", 0600);
  w.directory("bin");  // already added as a parent: not twice
  w.finish();
  EXPECT_EQ(w.bytes_written(), archive.size());

  auto entries = read_cpio(archive);
  std::vector<std::string> names;
  for (const auto& e : entries) {
    names.push_back(e.name);
    EXPECT_EQ(e.uid, 0u);
    EXPECT_EQ(e.gid, 0u);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"tmp", "dev", "dev/console", "etc", "etc/passwd", "bin", "bin/sh", "lib",
                                             "lib/modules", "lib/modules/6.1.0-57-amd64",
                                             "lib/modules/6.1.0-57-amd64/kernel",
                                             "lib/modules/6.1.0-57-amd64/kernel/fs",
                                             "lib/modules/6.1.0-57-amd64/kernel/fs/overlayfs",
                                             "lib/modules/6.1.0-57-amd64/kernel/fs/overlayfs/overlay.ko"}));
  EXPECT_EQ(entries[0].mode, uint32_t(S_IFDIR | 01777));
  EXPECT_EQ(entries[2].mode, uint32_t(S_IFCHR | 0600));
  EXPECT_EQ(entries[2].rdev_major, 5u);
  EXPECT_EQ(entries[2].rdev_minor, 1u);
  EXPECT_EQ(entries[4].data, "root:x:0:0::/root:/bin/sh\n");
  EXPECT_EQ(entries[4].mode, uint32_t(S_IFREG | 0644));
  EXPECT_EQ(entries[6].mode, uint32_t(S_IFLNK | 0777));
  EXPECT_EQ(entries[6].data, "busybox");
  EXPECT_EQ(entries.back().data, "abc");
  EXPECT_EQ(entries.back().mode, uint32_t(S_IFREG | 0600));
}

TEST(BootFilesCpio, StreamsHostFiles) {
  char path[] = "/tmp/bootfiles-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content(3 * 1024 * 1024 + 5, 'x');  // more than one read buffer, odd length
  content[17] = 'y';
  ASSERT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
  ::close(fd);
  std::string archive;
  bf::CpioWriter w([&](std::string_view d) { archive.append(d); });
  w.file_from("/bin/gcs", path, 0755);
  EXPECT_THROW(w.file_from("bin/missing", "/nonexistent/file", 0755), hcs::Error);
  w.finish();
  ::unlink(path);
  auto entries = read_cpio(archive);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].name, "bin/gcs");
  EXPECT_EQ(entries[1].mode, uint32_t(S_IFREG | 0755));
  EXPECT_EQ(entries[1].data, content);
}

TEST(BootFiles, FindSaysHowToBuild) {
  char dir[] = "/tmp/bootfiles-test-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  try {
    hcs::uvm::find_boot_files(dir);
    FAIL() << "no error for an empty directory";
  } catch (const hcs::Error& e) {
    EXPECT_EQ(e.code(), hcs::hr::ErrNotFound);
    EXPECT_NE(e.text().find("uvmctl bootfiles build"), std::string::npos);
  }
  for (const char* f : {"vmlinux", "initrd.img"}) std::ofstream(std::string(dir) + "/" + f) << "x";
  auto b = hcs::uvm::find_boot_files(dir);
  EXPECT_EQ(b.kernel, std::string(dir) + "/vmlinux");
  EXPECT_EQ(b.initrd, std::string(dir) + "/initrd.img");
  EXPECT_EQ(b.initrd_size, 1u);
  for (const char* f : {"vmlinux", "initrd.img"}) ::unlink((std::string(dir) + "/" + f).c_str());
  ::rmdir(dir);
}

TEST(BootFiles, DefaultDirectoryFollowsTheEnvironment) {
  const char* old = std::getenv("HCSKIT_BOOT_FILES");
  std::string saved = old ? old : "";
  ::setenv("HCSKIT_BOOT_FILES", "/somewhere/boot", 1);
  EXPECT_EQ(hcs::uvm::default_boot_files_dir(), "/somewhere/boot");
  ::unsetenv("HCSKIT_BOOT_FILES");
  EXPECT_EQ(hcs::uvm::default_boot_files_dir(), "/var/lib/hcskit/boot");
  if (old) ::setenv("HCSKIT_BOOT_FILES", saved.c_str(), 1);
}

}  // namespace bootfiles_test
