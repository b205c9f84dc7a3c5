#include <gtest/gtest.h>
#include <linux/vm_sockets.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

#include "hcs/core/error.hpp"
#include "hcs/transport/address.hpp"
#include "hcs/transport/socket.hpp"
#include "hcs/transport/virtio_serial.hpp"

using namespace hcs;
using namespace hcs::transport;
namespace fs = std::filesystem;

TEST(TransportAddress, ParsesEveryForm) {
  auto u = Address::parse("unix:/run/x.sock");
  EXPECT_EQ(u.kind, Address::Kind::Unix);
  EXPECT_EQ(u.path, "/run/x.sock");
  EXPECT_FALSE(u.mux);
  auto v = Address::parse("vsock");
  EXPECT_EQ(v.kind, Address::Kind::Vsock);
  EXPECT_EQ(v.cid, 2u);
  EXPECT_EQ(Address::parse("vsock:0x10").cid, 16u);
  auto m = Address::parse("mux+virtio-serial:gcs");
  EXPECT_TRUE(m.mux);
  EXPECT_EQ(m.kind, Address::Kind::VirtioSerial);
  EXPECT_EQ(m.path, "gcs");
  EXPECT_EQ(m.str(), "mux+virtio-serial:gcs");
  EXPECT_EQ(Address::parse("mux+unix:/a").str(), "mux+unix:/a");
  for (const char* bad : {"", "unix:", "tcp:1.2.3.4:5", "vsock:abc", "vsock:99999999999", "virtio-serial:", "mux+"}) {
    try {
      Address::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), hr::ErrInvalidArg);
      EXPECT_NE(e.text().find("want unix:PATH"), std::string::npos);
    }
  }
}

TEST(TransportUnix, PortPaths) {
  boost::asio::io_context io;
  UnixTransport t(io.get_executor(), "/tmp/g.sock");
  EXPECT_EQ(t.path_for(kGcsPort), "/tmp/g.sock");
  EXPECT_EQ(t.path_for(kFirstStdioPort), "/tmp/g.sock_1073741825");
  EXPECT_EQ(t.path_for(kLogPort), "/tmp/g.sock_109");
}

TEST(TransportUnix, ListenerIsPrivateAndCleansUp) {
  boost::asio::io_context io;
  auto dir = fs::temp_directory_path() / ("hcskit-unit-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = (dir / "l.sock").string();
  {
    auto l = listen_unix(io.get_executor(), path);
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // A stale socket is replaced; anything else is not.
    auto again = listen_unix(io.get_executor(), path);
  }
  EXPECT_FALSE(fs::exists(path));
  std::ofstream(dir / "file") << "x";
  EXPECT_THROW(listen_unix(io.get_executor(), (dir / "file").string()), Error);
  EXPECT_THROW(listen_unix(io.get_executor(), "/tmp/" + std::string(200, 'a')), Error);
  fs::remove_all(dir);
}

TEST(TransportVsock, SockaddrEncoding) {
  auto bytes = encode_sockaddr_vm({kVsockHostCid, kGcsPort});
  ASSERT_EQ(bytes.size(), sizeof(sockaddr_vm));
  sockaddr_vm sa{};
  std::memcpy(&sa, bytes.data(), sizeof sa);
  EXPECT_EQ(sa.svm_family, AF_VSOCK);
  EXPECT_EQ(sa.svm_cid, 2u);
  EXPECT_EQ(sa.svm_port, 0x40000000u);
}

TEST(TransportVsock, ListensOnAnyCid) {
  // Listening works on these machines; dialling does not (no loopback), so it is
  // exercised only inside a VM.
  boost::asio::io_context io;
  VsockTransport t(io.get_executor(), kVsockHostCid);
  try {
    auto l = t.listen(0x40001000);
    l->close();
  } catch (const Error& e) {
    GTEST_SKIP() << "no AF_VSOCK here: " << e.text();
  }
}

TEST(TransportVirtioSerial, FindsAPortByName) {
  auto root = fs::temp_directory_path() / ("hcskit-sysfs-" + std::to_string(::getpid()));
  for (auto [port, name] : {std::pair{"vport1p1", "console-log"}, {"vport1p2", "gcs"}}) {
    fs::create_directories(root / "class/virtio-ports" / port);
    std::ofstream(root / "class/virtio-ports" / port / "name") << name << "\n";
  }
  EXPECT_EQ(find_virtio_port("gcs", root.string(), "/dev"), "/dev/vport1p2");
  try {
    find_virtio_port("nope", root.string(), "/dev");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::ErrNotFound);
  }
  fs::remove_all(root);
}
