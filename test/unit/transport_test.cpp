#include <gtest/gtest.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

#include "hcs/core/error.hpp"
#include "hcs/transport/address.hpp"
#include "hcs/transport/socket.hpp"
#include "hcs/transport/stream.hpp"
#include "hcs/transport/virtio_serial.hpp"

namespace transport_test {

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

TEST(TransportWriteQueue, DirectWritesThenQueuedRemainderInOrder) {
  // Small messages go straight to the kernel; one larger than the socket buffer is
  // written partly at once and the rest asynchronously, still in order.
  boost::asio::io_context io;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto a = FdStream::adopt(io.get_executor(), UniqueFd(fds[0]), FdStream::Kind::Socket);
  auto b = FdStream::adopt(io.get_executor(), UniqueFd(fds[1]), FdStream::Kind::Socket);
  std::optional<error_code> failed;
  auto q = WriteQueue::create(a, [&](const error_code& ec) { failed = ec; });
  std::string expected;
  for (int i = 0; i < 3; ++i) {
    std::string msg = "message " + std::to_string(i) + "\n";
    expected += msg;
    q->send(msg);
  }
  EXPECT_EQ(q->pending_bytes(), 0u);  // all written directly
  std::string big(4 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  expected += big;
  q->send(big);
  q->send("tail");
  expected += "tail";
  EXPECT_GT(q->pending_bytes(), 0u);
  bool flushed = false;
  q->flush([&] { flushed = true; });
  std::string got;
  std::vector<std::byte> buf(65536);
  std::function<void()> step = [&] {
    b->async_read_some(buf, [&](const error_code& ec, std::size_t n) {
      got.append(reinterpret_cast<const char*>(buf.data()), n);
      if (!ec && got.size() < expected.size()) step();
    });
  };
  step();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((got.size() < expected.size() || !flushed) && std::chrono::steady_clock::now() < deadline)
    io.run_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(failed);
  EXPECT_TRUE(flushed);
  EXPECT_TRUE(got == expected) << got.size() << " of " << expected.size() << " bytes";
}

}  // namespace transport_test
