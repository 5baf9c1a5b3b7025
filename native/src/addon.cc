// addon.cc: module entry: registers the wrapper classes and the free functions (pinned-object
// opening, cgroup queries, bpffs helpers).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "handles.h"
#include "libbpf_log.h"

namespace meshc {

namespace {

// setErrorFactory((message, fields) => Error): lets the TS wrapper build its own error classes.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowType(info.Env(), "setErrorFactory: want a function");
  Data(info.Env()).errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// Opens a pin with bpf_obj_get and checks it is the wanted kind ("map", "prog", "link").
int OpenPin(Napi::Env env, const std::string& path, const char* kind, const std::string& label) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(env, -fd, label, "open pinned", path);
  std::string actual = BpfFdKind(fd);
  if (actual != kind) {
    close(fd);
    ThrowErrno(env, EINVAL, label, "open pinned", path + " is a " + (actual.empty() ? "non-BPF object" : actual) + " pin");
  }
  return fd;
}

Napi::Value OpenPinnedMap(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "map", "open pinned", "path");
  return MapHandle::New(info.Env(), OpenPin(info.Env(), path, "map", "map " + path), "");
}

Napi::Value OpenPinnedProgram(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "program", "open pinned", "path");
  return ProgramHandle::New(info.Env(), OpenPin(info.Env(), path, "prog", "program " + path), "", "", -1);
}

Napi::Value OpenPinnedLink(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "link", "open pinned", "path");
  return LinkHandle::New(info.Env(), OpenPin(info.Env(), path, "link", "link " + path));
}

// queryCgroup(path, attachType) -> [{ id, name, type }]: the programs attached to exactly this
// cgroup for the hook (not inherited ones), whether through links or legacy attachment.
Napi::Value QueryCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "cgroup", "query", "path");
  std::string label = "cgroup " + path;
  std::string typeName = StringArg(info, 1, label, "query", "attach type");
  int type = AttachTypeFromName(typeName);
  if (type < 0) ThrowType(env, label + ": query: unknown attach type \"" + typeName + "\"");
  OwnedFd cgroup(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup.Valid()) ThrowErrno(env, errno, label, "open");
  std::vector<uint32_t> ids(64);
  uint32_t count = 0;
  for (;;) {
    count = static_cast<uint32_t>(ids.size());
    uint32_t flags = 0;
    int err = ErrOf(bpf_prog_query(cgroup.Get(), static_cast<enum bpf_attach_type>(type), 0, &flags, ids.data(), &count));
    if (err == ENOSPC) {
      ids.resize(count > ids.size() ? count : ids.size() * 2);
      continue;
    }
    if (err) ThrowErrno(env, err, label, "query " + typeName);
    break;
  }
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", ids[i]);
    OwnedFd prog(bpf_prog_get_fd_by_id(ids[i]));
    if (prog.Valid()) {
      struct bpf_prog_info pi = {};
      uint32_t len = sizeof pi;
      if (bpf_obj_get_info_by_fd(prog.Get(), &pi, &len) == 0) {
        o.Set("name", pi.name);
        o.Set("type", ProgTypeName(pi.type));
      }
    }
    out.Set(i, o);
  }
  return out;
}

Napi::Value IsBpffs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), IsOnBpffs(StringArg(info, 0, "bpffs", "check", "path")));
}

// mountBpffs(dir): mounts a bpf filesystem at dir (which must exist) unless one is there.
Napi::Value MountBpffs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "bpffs", "mount", "path");
  if (IsOnBpffs(path)) return Napi::Boolean::New(env, false);
  if (mount("bpf", path.c_str(), "bpf", 0, "mode=0700") != 0) ThrowErrno(env, errno, "bpffs " + path, "mount");
  return Napi::Boolean::New(env, true);
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), -n, "system", "count possible CPUs");
  return Napi::Number::New(info.Env(), n);
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  InstallLibbpfPrint();
  MapHandle::Init(env, exports);
  ProgramHandle::Init(env, exports);
  LinkHandle::Init(env, exports);
  ObjectHandle::Init(env, exports);
  RingBufferHandle::Init(env, exports);
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
  exports.Set("openPinnedMap", Napi::Function::New<OpenPinnedMap>(env, "openPinnedMap"));
  exports.Set("openPinnedProgram", Napi::Function::New<OpenPinnedProgram>(env, "openPinnedProgram"));
  exports.Set("openPinnedLink", Napi::Function::New<OpenPinnedLink>(env, "openPinnedLink"));
  exports.Set("queryCgroup", Napi::Function::New<QueryCgroup>(env, "queryCgroup"));
  exports.Set("isBpffs", Napi::Function::New<IsBpffs>(env, "isBpffs"));
  exports.Set("mountBpffs", Napi::Function::New<MountBpffs>(env, "mountBpffs"));
  exports.Set("libbpfVersion", Napi::Function::New<LibbpfVersion>(env, "libbpfVersion"));
  exports.Set("possibleCpus", Napi::Function::New<PossibleCpus>(env, "possibleCpus"));
  return exports;
}

}  // namespace meshc

static Napi::Object InitMeshcNative(Napi::Env env, Napi::Object exports) { return meshc::Init(env, exports); }

NODE_API_MODULE(meshc_native, InitMeshcNative)
