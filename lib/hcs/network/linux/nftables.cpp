#include "hcs/network/linux/nftables.hpp"

#include <nftables/libnftables.h>

#include <memory>

#include "hcs/core/error.hpp"

namespace hcs::network::nftables {

namespace {

struct Ctx {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  Ctx() {
    if (!ctx) throw Error(hr::Fail, "nftables: cannot create a context");
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
  }
  ~Ctx() { nft_ctx_free(ctx); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
  std::string run(const std::string& cmd, const std::string& what) {
    if (nft_run_cmd_from_buffer(ctx, cmd.c_str()) != 0) {
      std::string err = nft_ctx_get_error_buffer(ctx);
      while (!err.empty() && err.back() == '\n') err.pop_back();
      throw Error(hr::Fail, "nftables: " + what + ": " + (err.empty() ? "failed" : err));
    }
    return nft_ctx_get_output_buffer(ctx);
  }
};

}  // namespace

void run(const std::string& script) { Ctx().run(script, "apply the rules"); }

std::string list(const std::string& what) { return Ctx().run("list " + what, "list " + what); }

}  // namespace hcs::network::nftables
