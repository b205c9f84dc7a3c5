#include "hcs/bridge/guest_container.hpp"

#include <boost/asio/post.hpp>

#include "hcs/bridge/messages.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace hcs::bridge {

bool is_valid_container_id(std::string_view id) noexcept {
  auto alnum = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (id.empty() || id.size() > 128 || !alnum(id[0])) return false;
  for (char c : id.substr(1))
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

void ContainerExit::complete(Result<std::string> outcome) {
  std::vector<std::function<void(Result<std::string>)>> waiters;
  {
    std::lock_guard lock(mu_);
    if (outcome_) return;
    outcome_.emplace(outcome);
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w(outcome);
}

void ContainerExit::wait(boost::asio::any_io_executor ex, std::function<void(Result<std::string>)> done) {
  std::unique_lock lock(mu_);
  if (!outcome_) {
    waiters_.push_back(std::move(done));
    return;
  }
  auto outcome = *outcome_;
  lock.unlock();
  // Never inline: callers may hold locks or be mid-way through their own set-up.
  boost::asio::post(ex, [done = std::move(done), outcome = std::move(outcome)] { done(outcome); });
}

bool ContainerExit::done() const {
  std::lock_guard lock(mu_);
  return outcome_.has_value();
}

GuestContainer::~GuestContainer() { conn_->unwatch(id_, exit_.get()); }

void GuestContainer::async_start(std::function<void(Result<void>)> done) {
  conn_->call_in(msg::Start, id_, [id = id_, done = std::move(done)](Result<void> r) {
    if (!r.ok()) return done(r.error().wrapped("start container " + id));
    done(r);
  });
}

void GuestContainer::async_create_process(schema::ProcessParameters params,
                                          std::function<void(Result<std::shared_ptr<GuestProcess>>)> done) {
  // The pty is the spec's business here, not EmulateConsole's; it still has one output.
  bool terminal = init_terminal_;
  if (params.oci_process.is_object()) terminal = params.oci_process.value("terminal", false);
  if (terminal) params.create_std_err_pipe = false;
  conn_->create_process_in(id_, std::move(params), std::move(done));
}

void GuestContainer::async_shutdown(bool forced, std::function<void(Result<void>)> done) {
  auto exit = exit_;
  // hcsshim's host gives these 30 s, not the bridge's 5 minutes.
  conn_->call_in(
      forced ? msg::ShutdownForced : msg::ShutdownGraceful, id_,
      [exit, forced, id = id_, done = std::move(done)](Result<void> r) {
        if (!r.ok() && r.error().code() == hr::VmcomputeSystemNotFound) {
          // Gone already: nothing is left to stop, and no notification will come.
          exit->complete(std::string("None"));
          return done(Result<void>());
        }
        if (!r.ok()) return done(r.error().wrapped(std::string(forced ? "terminate" : "shut down") + " container " + id));
        done(r);
      },
      std::chrono::seconds(30));
}

void GuestContainer::async_properties(std::vector<std::string> types, std::function<void(Result<Json>)> done) {
  schema::GetPropertiesRequest req;
  req.base.container_id = id_;
  req.query.value.property_types = std::move(types);
  conn_->client()->async_call(msg::GetProperties, schema::encode(req),
                              [id = id_, done = std::move(done)](Result<Json> r) {
                                if (!r.ok()) return done(r.error().wrapped("get properties of container " + id));
                                try {
                                  auto resp = schema::decode<schema::GetPropertiesResponse>(r.value());
                                  Json props = std::move(resp.properties.value);
                                  if (props.is_null()) props = Json::object();
                                  if (!props.is_object())
                                    return done(Error(hr::VmcomputeInvalidJSON,
                                                      "container " + id + ": Properties is not a JSON object"));
                                  done(std::move(props));
                                } catch (const Error& e) {
                                  done(e.wrapped("get properties of container " + id));
                                }
                              });
}

void GuestContainer::async_modify(schema::ModificationRequest request, std::function<void(Result<void>)> done) {
  conn_->modify_in(id_, std::move(request), std::move(done));
}

void GuestContainer::async_update(Json linux_resources, std::function<void(Result<void>)> done) {
  schema::ContainerConstraints constraints;
  constraints.linux_resources = std::move(linux_resources);
  schema::ModificationRequest req;
  req.request_type = std::string(schema::request_type::Update);
  req.resource_type = std::string(schema::resource_type::ContainerConstraints);
  req.settings = schema::encode(constraints);
  async_modify(std::move(req), [id = id_, done = std::move(done)](Result<void> r) {
    if (!r.ok()) return done(r.error().wrapped("container " + id));
    done(r);
  });
}

void GuestContainer::async_wait_exit(std::function<void(Result<std::string>)> done) {
  exit_->wait(conn_->client()->get_executor(), std::move(done));
}

bool GuestContainer::exited() const { return exit_->done(); }

}  // namespace hcs::bridge
