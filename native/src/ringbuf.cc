// ringbuf.cc: RingBufferHandle, a BPF_MAP_TYPE_RINGBUF consumer that hands each record to a JS
// callback as a Buffer, or, in batch mode, every record of one drain in one Buffer (each a u32
// size, little-endian, then its bytes): one call into JS and one copy per drain instead of one
// per record, which is what a busy reader spends most of its time on.
//
// Why uv_poll on the loop thread rather than a polling thread with a ThreadSafeFunction:
// libbpf's ring_buffer exposes an epoll fd that becomes readable when any record is committed,
// so the event loop itself can wait on it at no cost. When it fires, ring_buffer__consume()
// runs on the loop thread and calls the JS callback synchronously for each record: no thread,
// no locking, no copying through a queue, records arrive in order, and stopping is plain
// uv_poll_stop + ring_buffer__free with nothing in flight on another thread. The cost: a slow JS
// callback delays the loop, and records wait while the loop is busy (the kernel ring absorbs
// bursts up to its size; a full ring drops records and bpf_ringbuf_reserve() returns NULL).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>

#include "handles.h"

namespace meshc {

void RingBufferHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "RingBufferHandle",
                                    {
                                        InstanceMethod<&RingBufferHandle::Start>("start"),
                                        InstanceMethod<&RingBufferHandle::Consume>("consume"),
                                        InstanceMethod<&RingBufferHandle::Ref>("ref"),
                                        InstanceMethod<&RingBufferHandle::Unref>("unref"),
                                        InstanceMethod<&RingBufferHandle::Close>("close"),
                                    });
  Data(env).ringCtor = Napi::Persistent(ctor);
  exports.Set("RingBufferHandle", ctor);
}

// new RingBufferHandle(mapFd, name, callback[, batch]): the map fd is duplicated, so the caller's
// map handle may close independently.
RingBufferHandle::RingBufferHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RingBufferHandle>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 1, "ringbuf", "open", "name");
  label_ = "ringbuf " + name;
  uint32_t fd = Uint32Arg(info, 0, label_, "open", "map fd");
  if (info.Length() < 3 || !info[2].IsFunction()) ThrowType(env, label_ + ": open: callback must be a function");
  mapFd_.Reset(fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0));
  if (!mapFd_.Valid()) ThrowErrno(env, errno, label_, "open");
  if (BpfFdKind(mapFd_.Get()) != "map") ThrowErrno(env, EINVAL, label_, "open", "fd is not a BPF map");
  struct bpf_map_info mi = {};
  uint32_t len = sizeof mi;
  int err = ErrOf(bpf_obj_get_info_by_fd(mapFd_.Get(), &mi, &len));
  if (err) ThrowErrno(env, err, label_, "open");
  if (mi.type != BPF_MAP_TYPE_RINGBUF)
    ThrowErrno(env, EINVAL, label_, "open", "map is " + MapTypeName(mi.type) + ", want ringbuf");
  rb_ = ring_buffer__new(mapFd_.Get(), OnSample, this, nullptr);
  if (!rb_) ThrowErrno(env, errno, label_, "open");
  callback_ = Napi::Persistent(info[2].As<Napi::Function>());
  batch_ = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
}

RingBufferHandle::~RingBufferHandle() { Shutdown(false); }

int RingBufferHandle::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingBufferHandle*>(ctx);
  if (self->closeRequested_ || !self->error_.IsEmpty()) return -ECANCELED;
  if (self->batch_) {
    uint32_t n = static_cast<uint32_t>(size);
    size_t at = self->pending_.size();
    self->pending_.resize(at + sizeof n + size);
    memcpy(self->pending_.data() + at, &n, sizeof n);  // little-endian on every target meshc builds for
    memcpy(self->pending_.data() + at + sizeof n, data, size);
    return 0;
  }
  // No C++ exception may cross libbpf's C frames: catch here, stop the consume, report after.
  try {
    Napi::HandleScope scope(self->env_);
    self->callback_.Call({Napi::Buffer<uint8_t>::Copy(self->env_, static_cast<uint8_t*>(data), size)});
  } catch (const Napi::Error& e) {
    self->error_ = Napi::Reference<Napi::Value>::New(e.Value(), 1);
    return -ECANCELED;
  }
  return 0;
}

int RingBufferHandle::Drain(Napi::Value* error) {
  draining_ = true;
  int n = ring_buffer__consume(rb_);
  if (batch_ && !pending_.empty() && !closeRequested_) {
    try {
      Napi::HandleScope scope(env_);
      callback_.Call({Napi::Buffer<uint8_t>::Copy(env_, pending_.data(), pending_.size())});
    } catch (const Napi::Error& e) {
      error_ = Napi::Reference<Napi::Value>::New(e.Value(), 1);
    }
  }
  pending_.clear();
  draining_ = false;
  if (!error_.IsEmpty()) {
    *error = error_.Value();
    error_.Reset();
  }
  if (n < 0 && n != -ECANCELED) ThrowErrno(env_, -n, label_, "consume");
  return n < 0 ? 0 : n;
}

void RingBufferHandle::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<RingBufferHandle*>(handle->data);
  if (!self->rb_) return;
  Napi::Env env = self->env_;
  // Keeps the wrapper (and so `self`) alive through JS that may close it and collect garbage.
  self->Napi::ObjectWrap<RingBufferHandle>::Ref();
  Napi::HandleScope scope(env);
  // The callback scope gives the JS callback a proper async context and runs microtasks after it.
  Napi::CallbackScope callbackScope(env, *self->asyncContext_);
  Napi::Value error;
  try {
    self->Drain(&error);
  } catch (const Napi::Error& e) {
    error = e.Value();
  }
  if (self->closeRequested_) self->Shutdown(true);
  // A throwing callback is an uncaught exception, as for any event handler.
  if (!error.IsEmpty()) napi_fatal_exception(env, error);
  self->Napi::ObjectWrap<RingBufferHandle>::Unref();
}

// start(): begin delivering records from the event loop. The handle stays alive (not collected)
// until close().
Napi::Value RingBufferHandle::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!rb_) ThrowErrno(env, EBADF, label_, "start", "ring buffer is closed");
  if (started_) return env.Undefined();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) ThrowErrno(env, EINVAL, label_, "start", "no event loop");
  poll_ = new uv_poll_t;
  int err = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(rb_));
  if (err) {
    delete poll_;
    poll_ = nullptr;
    ThrowErrno(env, -err, label_, "start", uv_strerror(err));
  }
  poll_->data = this;
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "meshc:ringbuf");
  err = uv_poll_start(poll_, UV_READABLE, OnReadable);
  if (err) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    ThrowErrno(env, -err, label_, "start", uv_strerror(err));
  }
  if (!referenced_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  started_ = true;
  Napi::ObjectWrap<RingBufferHandle>::Ref();
  return env.Undefined();
}

// consume() -> number of records delivered now, synchronously; a callback's exception is rethrown.
Napi::Value RingBufferHandle::Consume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!rb_) ThrowErrno(env, EBADF, label_, "consume", "ring buffer is closed");
  if (draining_) ThrowErrno(env, EBUSY, label_, "consume", "called from inside the record callback");
  Napi::Value error;
  int n = Drain(&error);
  if (closeRequested_) Shutdown(true);
  if (!error.IsEmpty()) throw Napi::Error(env, error);
  return Napi::Number::New(env, n);
}

Napi::Value RingBufferHandle::Ref(const Napi::CallbackInfo& info) {
  referenced_ = true;
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value RingBufferHandle::Unref(const Napi::CallbackInfo& info) {
  referenced_ = false;
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value RingBufferHandle::Close(const Napi::CallbackInfo& info) {
  if (draining_)
    closeRequested_ = true;  // freed once ring_buffer__consume returns
  else
    Shutdown(true);
  return info.Env().Undefined();
}

void RingBufferHandle::CleanupHook(void* arg) { static_cast<RingBufferHandle*>(arg)->Shutdown(false); }

void RingBufferHandle::Shutdown(bool fromJs) {
  if (poll_) {
    // uv_poll_stop also removes the fd from the loop's epoll set, so freeing libbpf's epoll fd
    // below is safe; the handle memory goes in its close callback.
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  }
  if (rb_) ring_buffer__free(rb_);
  rb_ = nullptr;
  mapFd_.Reset();
  closeRequested_ = false;
  if (started_) {
    started_ = false;
    if (fromJs) Napi::ObjectWrap<RingBufferHandle>::Unref();
  }
}

}  // namespace meshc
