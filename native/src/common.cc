// common.cc: BpfError construction, fd ownership, argument checks and libbpf name tables.
#include "common.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace meshc {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

std::string ErrnoName(int err) {
  if (err == 524) return "ENOTSUPP";  // kernel-internal, leaks out of some BPF paths
  const char* name = strerrorname_np(err);
  return name ? name : "errno " + std::to_string(err);
}

void ThrowFields(Napi::Env env, const std::string& message, Napi::Object fields) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data && !data->errorFactory.IsEmpty()) {
    Napi::Value error = data->errorFactory.Call({Napi::String::New(env, message), fields});
    throw Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Array keys = fields.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) error.Value().Set(keys.Get(i), fields.Get(keys.Get(i)));
  throw error;
}

void ThrowErrno(Napi::Env env, int err, const std::string& object, const std::string& op, const std::string& detail,
                Napi::Object extra) {
  std::string code = ErrnoName(err);
  std::string message = object + ": " + op + ": " + code;
  if (!detail.empty()) message += ": " + detail;
  Napi::Object fields = extra.IsEmpty() ? Napi::Object::New(env) : extra;
  fields.Set("kind", "bpf");
  fields.Set("errno", err);
  fields.Set("code", code);
  fields.Set("op", op);
  fields.Set("object", object);
  ThrowFields(env, message, fields);
}

void ThrowType(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }
void ThrowRange(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

OwnedFd& OwnedFd::operator=(OwnedFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

int OwnedFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void OwnedFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

bool IsMissing(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() <= i || info[i].IsUndefined() || info[i].IsNull();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const std::string& object, const std::string& op,
                      const char* what) {
  if (info.Length() <= i || !info[i].IsString()) ThrowType(info.Env(), object + ": " + op + ": " + what + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const std::string& object,
                                const std::string& op, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer()) ThrowType(info.Env(), object + ": " + op + ": " + what + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

Napi::Buffer<uint8_t> SizedBufferArg(const Napi::CallbackInfo& info, size_t i, const std::string& object,
                                     const std::string& op, const char* what, size_t want, const char* sizeName) {
  Napi::Buffer<uint8_t> buf = BufferArg(info, i, object, op, what);
  if (buf.Length() != want)
    ThrowRange(info.Env(), object + ": " + op + ": " + what + " is " + std::to_string(buf.Length()) + " bytes, want " +
                               std::to_string(want) + " (" + sizeName + ")");
  return buf;
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i, const std::string& object, const std::string& op,
                   const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowType(info.Env(), object + ": " + op + ": " + what + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint32_t>(v)))
    ThrowRange(info.Env(), object + ": " + op + ": " + what + " must be an integer in 0..2^32-1");
  return static_cast<uint32_t>(v);
}

std::string BpfFdKind(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("map_type:", 0) == 0) return "map";
    if (line.rfind("prog_type:", 0) == 0) return "prog";
    if (line.rfind("link_type:", 0) == 0) return "link";
  }
  return "";
}

int AttachTypeFromName(const std::string& name) {
  for (int t = 0; t < __MAX_BPF_ATTACH_TYPE; t++) {
    const char* s = libbpf_bpf_attach_type_str(static_cast<enum bpf_attach_type>(t));
    if (s && name == s) return t;
  }
  return -1;
}

std::string AttachTypeName(int type) {
  const char* s = libbpf_bpf_attach_type_str(static_cast<enum bpf_attach_type>(type));
  return s ? s : "attach_type_" + std::to_string(type);
}

int ExpectedAttachType(int progType, int attachType) {
  if (attachType == 0 && progType != BPF_PROG_TYPE_CGROUP_SKB) return -1;
  return attachType;
}

std::string ProgTypeName(int type) {
  const char* s = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(type));
  return s ? s : "prog_type_" + std::to_string(type);
}

std::string MapTypeName(int type) {
  const char* s = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(type));
  return s ? s : "map_type_" + std::to_string(type);
}

bool IsOnBpffs(const std::string& path) {
  struct statfs st;
  if (statfs(path.c_str(), &st) != 0) return false;
  return static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

static std::string DirOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void PinFd(Napi::Env env, int fd, const std::string& path, const std::string& object) {
  int err = ErrOf(bpf_obj_pin(fd, path.c_str()));
  if (!err) return;
  std::string detail = path;
  std::string dir = DirOf(path);
  if ((err == EPERM || err == EINVAL) && access(dir.c_str(), F_OK) == 0 && !IsOnBpffs(dir))
    detail += " (" + dir + " is not on a bpffs mount; mount -t bpf bpf /sys/fs/bpf)";
  else if (err == EEXIST)
    detail += " (a pin already exists there)";
  ThrowErrno(env, err, object, "pin", detail);
}

}  // namespace meshc
