// handles.h: the JS-visible wrapper classes. Each owns its own fd (a dup for maps and programs
// taken from an object), so closing one never invalidates another and GC closes each fd once.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include <map>
#include <memory>
#include <string>

#include "common.h"

namespace meshc {

class MapHandle : public Napi::ObjectWrap<MapHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps fd (ownership taken; closed on failure). `name` labels errors; empty means the kernel's name.
  static Napi::Object New(Napi::Env env, int fd, const std::string& name);
  explicit MapHandle(const Napi::CallbackInfo& info);

 private:
  int FdOrThrow(const char* op);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Lookup(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value NextKey(const Napi::CallbackInfo& info);
  Napi::Value LookupBatch(const Napi::CallbackInfo& info);
  Napi::Value UpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  OwnedFd fd_;
  std::string name_;
  std::string label_;  // "map NAME"
  uint32_t type_ = 0, keySize_ = 0, valueSize_ = 0, maxEntries_ = 0, flags_ = 0, id_ = 0;
  size_t valueBufSize_ = 0;  // value_size, or round_up(value_size, 8) * possible CPUs for per-CPU maps
};

class ProgramHandle : public Napi::ObjectWrap<ProgramHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps fd (ownership taken). `attachType` is the expected attach type or -1 when unknown
  // (programs opened from a pin: the kernel does not report it).
  static Napi::Object New(Napi::Env env, int fd, const std::string& name, const std::string& section, int attachType);
  explicit ProgramHandle(const Napi::CallbackInfo& info);

 private:
  int FdOrThrow(const char* op);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value AttachCgroup(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  OwnedFd fd_;
  std::string name_, section_, label_;
  uint32_t type_ = 0, id_ = 0;
  int attachType_ = -1;
  std::string tag_;
};

class LinkHandle : public Napi::ObjectWrap<LinkHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, int fd);
  explicit LinkHandle(const Napi::CallbackInfo& info);

 private:
  int FdOrThrow(const char* op);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  OwnedFd fd_;
  std::string label_;  // "link ID"
};

class ObjectHandle : public Napi::ObjectWrap<ObjectHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit ObjectHandle(const Napi::CallbackInfo& info);
  ~ObjectHandle() override;

 private:
  bpf_object* ObjOrThrow(const char* op);
  bpf_map* FindMap(const std::string& name, const char* op);
  bpf_program* FindProgram(const std::string& name, const char* op);
  void AdoptPinnedMaps(Napi::Env env);
  Napi::Value Globals(const Napi::CallbackInfo& info);
  Napi::Value SetGlobal(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value Program(const Napi::CallbackInfo& info);
  Napi::Value Map(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  std::string path_, label_;  // label: "object PATH"
  size_t logSize_ = 0;
  std::map<std::string, std::string> adopted_;  // map name -> pin it was adopted from
};

class RingBufferHandle : public Napi::ObjectWrap<RingBufferHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit RingBufferHandle(const Napi::CallbackInfo& info);
  ~RingBufferHandle() override;

 private:
  static int OnSample(void* ctx, void* data, size_t size);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Consume(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  static void CleanupHook(void* arg);
  // Consumes what is ready; returns the record count. The first exception thrown by the JS
  // callback stops the consume and is returned in `error` (empty when none).
  int Drain(Napi::Value* error);
  // Stops polling and frees libbpf's ring buffer. `fromJs` is false during env teardown.
  void Shutdown(bool fromJs);

  OwnedFd mapFd_;
  ring_buffer* rb_ = nullptr;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  bool started_ = false;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  std::string label_;  // "ringbuf NAME"
  bool referenced_ = true;  // whether the poll handle keeps the event loop alive
  bool draining_ = false;   // inside ring_buffer__consume: close() must wait for it to return
  bool closeRequested_ = false;
  Napi::Reference<Napi::Value> error_;  // first exception thrown by the callback in one drain
  bool batch_ = false;            // one callback per drain with every record, not one per record
  std::vector<uint8_t> pending_;  // batch mode: [u32 size][record] for each record of this drain
  Napi::Env env_;
};

}  // namespace meshc
