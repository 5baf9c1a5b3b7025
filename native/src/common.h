// common.h: shared pieces of the addon: per-env data, BpfError construction, fd ownership, argument checks.
#pragma once

#include <napi.h>

#include <cstring>
#include <string>

namespace meshc {

// Constructors and the error factory, one set per Node environment (main thread or worker).
struct AddonData {
  Napi::FunctionReference errorFactory;  // (message, fields) => Error, installed by src/loader/addon.ts
  Napi::FunctionReference mapCtor;
  Napi::FunctionReference programCtor;
  Napi::FunctionReference linkCtor;
  Napi::FunctionReference objectCtor;
  Napi::FunctionReference ringCtor;
};

AddonData& Data(Napi::Env env);

// "ENOENT", "E2BIG", ... (524, the kernel-internal ENOTSUPP, included).
std::string ErrnoName(int err);

// Throws the error built by the JS factory. The message is "<object>: <op>: <CODE>[: <detail>]"
// and the fields errno, code, op, object are set; `extra` may carry more fields.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& object, const std::string& op,
                             const std::string& detail = "", Napi::Object extra = Napi::Object());
// Throws the error built by the JS factory with a ready message and fields.
[[noreturn]] void ThrowFields(Napi::Env env, const std::string& message, Napi::Object fields);
[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& message);

// libbpf and the bpf_* syscall wrappers return -errno (libbpf 1.x); this turns a result into errno.
inline int ErrOf(int ret) { return ret < 0 ? -ret : 0; }

// A zeroed libbpf options struct with .sz set (LIBBPF_OPTS is a C statement expression).
template <class T>
T LibbpfOpts() {
  T opts;
  memset(&opts, 0, sizeof opts);
  opts.sz = sizeof opts;
  return opts;
}

// A file descriptor this object owns and closes exactly once.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.Release()) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept;
  ~OwnedFd() { Reset(); }

  int Get() const { return fd_; }
  bool Valid() const { return fd_ >= 0; }
  int Release();
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Argument readers: they throw a TypeError/RangeError that names the object, the operation and the argument.
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const std::string& object, const std::string& op,
                      const char* what);
Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const std::string& object,
                                const std::string& op, const char* what);
// Like BufferArg but the length must be exactly `want` bytes; `sizeName` names the limit ("key_size").
Napi::Buffer<uint8_t> SizedBufferArg(const Napi::CallbackInfo& info, size_t i, const std::string& object,
                                     const std::string& op, const char* what, size_t want, const char* sizeName);
uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i, const std::string& object, const std::string& op,
                   const char* what);
bool IsMissing(const Napi::CallbackInfo& info, size_t i);

// What kind of BPF object an fd refers to, read from /proc/self/fdinfo: "map", "prog", "link" or "".
std::string BpfFdKind(int fd);

// Attach types by libbpf's names ("cgroup_inet4_connect"); -1 if unknown.
int AttachTypeFromName(const std::string& name);
std::string AttachTypeName(int type);
// A program's expected attach type, or -1 when its type takes none: libbpf reports 0
// (cgroup_inet_ingress) for those, which only means something for cgroup_skb programs.
int ExpectedAttachType(int progType, int attachType);
std::string ProgTypeName(int type);
std::string MapTypeName(int type);

// Pins fd at path; on EPERM/EINVAL explains when the directory is not on a bpffs mount.
void PinFd(Napi::Env env, int fd, const std::string& path, const std::string& object);
bool IsOnBpffs(const std::string& path);

}  // namespace meshc
