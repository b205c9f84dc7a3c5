#include "hcs/network/linux/nftables.hpp"

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <type_traits>

#include "hcs/core/error.hpp"

namespace hcs::network::nftables {

namespace {

// libnftables is loaded on first use, not at start-up: most runs of the tools never
// change a rule, and it brings five more shared libraries (nftnl, mnl, xtables,
// jansson, gmp) for the dynamic loader to map into every one of them.
struct Api {
  decltype(&nft_ctx_new) ctx_new;
  decltype(&nft_ctx_free) ctx_free;
  decltype(&nft_ctx_buffer_output) buffer_output;
  decltype(&nft_ctx_buffer_error) buffer_error;
  decltype(&nft_ctx_get_output_buffer) output_buffer;
  decltype(&nft_ctx_get_error_buffer) error_buffer;
  decltype(&nft_run_cmd_from_buffer) run_cmd;
};

const Api& api() {
  static const Api loaded = [] {
    constexpr const char* kLibrary = "libnftables.so.1";  // the ABI of the header above
    void* lib = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (!lib) throw Error(hr::Fail, std::string("nftables: load ") + kLibrary + ": " + ::dlerror());
    auto get = [lib](auto& fn, const char* name) {
      void* p = ::dlsym(lib, name);
      if (!p) throw Error(hr::Fail, std::string("nftables: ") + name + " is missing from libnftables");
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    };
    Api a{};
    get(a.ctx_new, "nft_ctx_new");
    get(a.ctx_free, "nft_ctx_free");
    get(a.buffer_output, "nft_ctx_buffer_output");
    get(a.buffer_error, "nft_ctx_buffer_error");
    get(a.output_buffer, "nft_ctx_get_output_buffer");
    get(a.error_buffer, "nft_ctx_get_error_buffer");
    get(a.run_cmd, "nft_run_cmd_from_buffer");
    return a;  // the library stays loaded for the process's life
  }();
  return loaded;
}

struct Ctx {
  const Api& nft = api();
  nft_ctx* ctx = nft.ctx_new(NFT_CTX_DEFAULT);
  Ctx() {
    if (!ctx) throw Error(hr::Fail, "nftables: cannot create a context");
    nft.buffer_output(ctx);
    nft.buffer_error(ctx);
  }
  ~Ctx() { nft.ctx_free(ctx); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
  std::string run(const std::string& cmd, const std::string& what) {
    if (nft.run_cmd(ctx, cmd.c_str()) != 0) {
      std::string err = nft.error_buffer(ctx);
      while (!err.empty() && err.back() == '\n') err.pop_back();
      throw Error(hr::Fail, "nftables: " + what + ": " + (err.empty() ? "failed" : err));
    }
    return nft.output_buffer(ctx);
  }
};

}  // namespace

void run(const std::string& script) { Ctx().run(script, "apply the rules"); }

std::string list(const std::string& what) { return Ctx().run("list " + what, "list " + what); }

}  // namespace hcs::network::nftables
