// program.cc: ProgramHandle, a program fd with test_run, pinning and cgroup attachment.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "handles.h"

namespace meshc {

namespace {

struct PendingProgram {
  int fd;
  std::string name;
  std::string section;
  int attachType;
};

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Reads an optional Buffer property of the test_run options.
bool OptionalBuffer(Napi::Object opts, const char* key, const std::string& label, Napi::Buffer<uint8_t>* out) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBuffer()) ThrowType(opts.Env(), label + ": test run: " + key + " must be a Buffer");
  *out = v.As<Napi::Buffer<uint8_t>>();
  return true;
}

uint32_t OptionalCount(Napi::Object opts, const char* key, const std::string& label, uint32_t fallback) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d)))
    ThrowRange(opts.Env(), label + ": test run: " + key + " must be an integer in 0..2^32-1");
  return static_cast<uint32_t>(d);
}

}  // namespace

void ProgramHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "ProgramHandle",
                                    {
                                        InstanceMethod<&ProgramHandle::Info>("info"),
                                        InstanceMethod<&ProgramHandle::Fd>("fd"),
                                        InstanceMethod<&ProgramHandle::TestRun>("testRun"),
                                        InstanceMethod<&ProgramHandle::Pin>("pin"),
                                        InstanceMethod<&ProgramHandle::AttachCgroup>("attachCgroup"),
                                        InstanceMethod<&ProgramHandle::Close>("close"),
                                    });
  Data(env).programCtor = Napi::Persistent(ctor);
  exports.Set("ProgramHandle", ctor);
}

Napi::Object ProgramHandle::New(Napi::Env env, int fd, const std::string& name, const std::string& section,
                                int attachType) {
  PendingProgram pending{fd, name, section, attachType};
  return Data(env).programCtor.New({Napi::External<PendingProgram>::New(env, &pending)});
}

ProgramHandle::ProgramHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal())
    ThrowType(env, "ProgramHandle is created by BpfObject.program() or openPinnedProgram(), not with new");
  PendingProgram* pending = info[0].As<Napi::External<PendingProgram>>().Data();
  fd_.Reset(pending->fd);
  std::string label = "program " + (pending->name.empty() ? "fd " + std::to_string(fd_.Get()) : pending->name);
  if (BpfFdKind(fd_.Get()) != "prog") ThrowErrno(env, EINVAL, label, "open", "not a BPF program");
  struct bpf_prog_info pi = {};
  uint32_t len = sizeof pi;
  int err = ErrOf(bpf_obj_get_info_by_fd(fd_.Get(), &pi, &len));
  if (err) ThrowErrno(env, err, label, "get info");
  name_ = pending->name.empty() ? std::string(pi.name) : pending->name;
  section_ = pending->section;
  label_ = "program " + name_;
  type_ = pi.type;
  id_ = pi.id;
  attachType_ = pending->attachType;
  static const char hex[] = "0123456789abcdef";
  for (unsigned char b : pi.tag) {
    tag_ += hex[b >> 4];
    tag_ += hex[b & 15];
  }
}

int ProgramHandle::FdOrThrow(const char* op) {
  if (!fd_.Valid()) ThrowErrno(Env(), EBADF, label_, op, "handle is closed");
  return fd_.Get();
}

Napi::Value ProgramHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", name_);
  out.Set("section", section_);
  out.Set("type", ProgTypeName(type_));
  out.Set("typeId", type_);
  if (attachType_ >= 0) out.Set("attachType", AttachTypeName(attachType_));
  out.Set("id", id_);
  out.Set("tag", tag_);
  return out;
}

Napi::Value ProgramHandle::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.Get()); }

// testRun({ ctx?, data?, repeat?, ctxOutSize?, dataOutSize? }) -> { retval, duration, ctxOut?, dataOut? }
//
// SEC("syscall") programs are special in the kernel: their ctx is an arbitrary user struct that
// the program may write, and the kernel copies it back into ctx_in (ctx_out, data and repeat are
// refused with EINVAL). So for them ctx is copied into a scratch buffer that becomes ctxOut,
// `repeat` is done here in a loop (each run sees the original ctx), and `duration` is the mean
// wall time per run measured in user space, syscall included. For other program types the kernel
// repeats and times the run itself.
Napi::Value ProgramHandle::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("test run");
  if (!IsMissing(info, 0) && !info[0].IsObject()) ThrowType(env, label_ + ": test run: options must be an object");
  Napi::Object opts = IsMissing(info, 0) ? Napi::Object::New(env) : info[0].As<Napi::Object>();
  Napi::Buffer<uint8_t> ctx, data;
  bool hasCtx = OptionalBuffer(opts, "ctx", label_, &ctx);
  bool hasData = OptionalBuffer(opts, "data", label_, &data);
  uint32_t repeat = OptionalCount(opts, "repeat", label_, 1);
  Napi::Object out = Napi::Object::New(env);

  if (type_ == BPF_PROG_TYPE_SYSCALL) {
    if (hasData) ThrowType(env, label_ + ": test run: data is not accepted by syscall programs; pass ctx");
    std::vector<uint8_t> scratch(hasCtx ? ctx.Length() : 0);
    uint32_t runs = repeat == 0 ? 1 : repeat;
    uint32_t retval = 0;
    uint64_t start = NowNs();
    for (uint32_t i = 0; i < runs; i++) {
      if (hasCtx) memcpy(scratch.data(), ctx.Data(), scratch.size());
      auto run = LibbpfOpts<bpf_test_run_opts>();
      run.ctx_in = scratch.empty() ? nullptr : scratch.data();
      run.ctx_size_in = static_cast<uint32_t>(scratch.size());
      int err = ErrOf(bpf_prog_test_run_opts(fd, &run));
      if (err) ThrowErrno(env, err, label_, "test run");
      retval = run.retval;
    }
    out.Set("retval", retval);
    out.Set("duration", static_cast<double>((NowNs() - start) / runs));
    out.Set("ctxOut", Napi::Buffer<uint8_t>::Copy(env, scratch.data(), scratch.size()));
    return out;
  }

  uint32_t dataOutSize = OptionalCount(opts, "dataOutSize", label_, hasData ? static_cast<uint32_t>(data.Length()) + 256 : 0);
  uint32_t ctxOutSize = OptionalCount(opts, "ctxOutSize", label_, hasCtx ? static_cast<uint32_t>(ctx.Length()) : 0);
  std::vector<uint8_t> dataOut(dataOutSize), ctxOut(ctxOutSize);
  auto run = LibbpfOpts<bpf_test_run_opts>();
  run.data_in = hasData ? data.Data() : nullptr;
  run.data_size_in = hasData ? static_cast<uint32_t>(data.Length()) : 0;
  run.data_out = dataOut.empty() ? nullptr : dataOut.data();
  run.data_size_out = dataOutSize;
  run.ctx_in = hasCtx ? ctx.Data() : nullptr;
  run.ctx_size_in = hasCtx ? static_cast<uint32_t>(ctx.Length()) : 0;
  run.ctx_out = ctxOut.empty() ? nullptr : ctxOut.data();
  run.ctx_size_out = ctxOutSize;
  run.repeat = static_cast<int>(repeat);
  int err = ErrOf(bpf_prog_test_run_opts(fd, &run));
  if (err) ThrowErrno(env, err, label_, "test run", err == 524 ? "test_run is not supported for " + ProgTypeName(type_) + " programs" : "");
  out.Set("retval", run.retval);
  out.Set("duration", run.duration);
  if (!dataOut.empty()) out.Set("dataOut", Napi::Buffer<uint8_t>::Copy(env, dataOut.data(), std::min<size_t>(run.data_size_out, dataOut.size())));
  if (!ctxOut.empty()) out.Set("ctxOut", Napi::Buffer<uint8_t>::Copy(env, ctxOut.data(), std::min<size_t>(run.ctx_size_out, ctxOut.size())));
  return out;
}

Napi::Value ProgramHandle::Pin(const Napi::CallbackInfo& info) {
  int fd = FdOrThrow("pin");
  PinFd(info.Env(), fd, StringArg(info, 0, label_, "pin", "path"), label_);
  return info.Env().Undefined();
}

// attachCgroup(cgroupDir, attachType?) -> LinkHandle. A bpf_link, not a legacy attachment: it
// detaches when its last fd closes unless pinned, and it can be pinned to survive a restart.
Napi::Value ProgramHandle::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("attach");
  std::string path = StringArg(info, 0, label_, "attach", "cgroup path");
  int type = attachType_;
  if (!IsMissing(info, 1)) {
    std::string name = StringArg(info, 1, label_, "attach", "attach type");
    type = AttachTypeFromName(name);
    if (type < 0) ThrowType(env, label_ + ": attach: unknown attach type \"" + name + "\" (want libbpf's names, e.g. cgroup_inet4_connect)");
  }
  if (type < 0) ThrowType(env, label_ + ": attach: attach type unknown (program opened from a pin); pass it");
  OwnedFd cgroup(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup.Valid()) ThrowErrno(env, errno, "cgroup " + path, "open");
  int link = bpf_link_create(fd, cgroup.Get(), static_cast<enum bpf_attach_type>(type), nullptr);
  if (link < 0) ThrowErrno(env, -link, label_, "attach", "cgroup " + path + " as " + AttachTypeName(type));
  return LinkHandle::New(env, link);
}

Napi::Value ProgramHandle::Close(const Napi::CallbackInfo& info) {
  fd_.Reset();
  return info.Env().Undefined();
}

}  // namespace meshc
