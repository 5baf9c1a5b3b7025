// link.cc: LinkHandle, a bpf_link fd: info, pin, detach.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>

#include "handles.h"

namespace meshc {

namespace {
struct PendingLink {
  int fd;
};
}  // namespace

void LinkHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "LinkHandle",
                                    {
                                        InstanceMethod<&LinkHandle::Info>("info"),
                                        InstanceMethod<&LinkHandle::Fd>("fd"),
                                        InstanceMethod<&LinkHandle::Pin>("pin"),
                                        InstanceMethod<&LinkHandle::Detach>("detach"),
                                        InstanceMethod<&LinkHandle::Close>("close"),
                                    });
  Data(env).linkCtor = Napi::Persistent(ctor);
  exports.Set("LinkHandle", ctor);
}

Napi::Object LinkHandle::New(Napi::Env env, int fd) {
  PendingLink pending{fd};
  return Data(env).linkCtor.New({Napi::External<PendingLink>::New(env, &pending)});
}

LinkHandle::LinkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal())
    ThrowType(env, "LinkHandle is created by attachCgroup() or openPinnedLink(), not with new");
  fd_.Reset(info[0].As<Napi::External<PendingLink>>().Data()->fd);
  label_ = "link fd " + std::to_string(fd_.Get());
  if (BpfFdKind(fd_.Get()) != "link") ThrowErrno(env, EINVAL, label_, "open", "not a BPF link");
  struct bpf_link_info li = {};
  uint32_t len = sizeof li;
  int err = ErrOf(bpf_obj_get_info_by_fd(fd_.Get(), &li, &len));
  if (err) ThrowErrno(env, err, label_, "get info");
  label_ = "link " + std::to_string(li.id);
}

int LinkHandle::FdOrThrow(const char* op) {
  if (!fd_.Valid()) ThrowErrno(Env(), EBADF, label_, op, "handle is closed");
  return fd_.Get();
}

// info() -> { id, type, progId, cgroupId?, attachType? }; read fresh, since a detached link
// reports prog_id 0.
Napi::Value LinkHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("get info");
  struct bpf_link_info li = {};
  uint32_t len = sizeof li;
  int err = ErrOf(bpf_obj_get_info_by_fd(fd, &li, &len));
  if (err) ThrowErrno(env, err, label_, "get info");
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", li.id);
  const char* type = libbpf_bpf_link_type_str(static_cast<enum bpf_link_type>(li.type));
  out.Set("type", type ? type : "link_type_" + std::to_string(li.type));
  out.Set("progId", li.prog_id);
  if (li.type == BPF_LINK_TYPE_CGROUP) {
    out.Set("cgroupId", static_cast<double>(li.cgroup.cgroup_id));
    out.Set("attachType", AttachTypeName(li.cgroup.attach_type));
  }
  return out;
}

Napi::Value LinkHandle::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.Get()); }

Napi::Value LinkHandle::Pin(const Napi::CallbackInfo& info) {
  int fd = FdOrThrow("pin");
  PinFd(info.Env(), fd, StringArg(info, 0, label_, "pin", "path"), label_);
  return info.Env().Undefined();
}

// detach(): detaches the program now, even if other fds or a pin still hold the link, then
// closes this handle. Unpinning is the caller's (the TS wrapper removes the pin first).
Napi::Value LinkHandle::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("detach");
  int err = ErrOf(bpf_link_detach(fd));
  // EOPNOTSUPP: a link type without forced detach; closing the last fd still detaches it.
  if (err && err != EOPNOTSUPP && err != ENOLINK) ThrowErrno(env, err, label_, "detach");
  fd_.Reset();
  return env.Undefined();
}

Napi::Value LinkHandle::Close(const Napi::CallbackInfo& info) {
  fd_.Reset();
  return info.Env().Undefined();
}

}  // namespace meshc
