// map.cc: MapHandle, a map fd with element and batch operations on Buffers.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>

#include "handles.h"

namespace meshc {

namespace {

struct PendingMap {
  int fd;
  std::string name;
};

bool IsPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

}  // namespace

void MapHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "MapHandle",
                                    {
                                        InstanceMethod<&MapHandle::Info>("info"),
                                        InstanceMethod<&MapHandle::Fd>("fd"),
                                        InstanceMethod<&MapHandle::Lookup>("lookup"),
                                        InstanceMethod<&MapHandle::Update>("update"),
                                        InstanceMethod<&MapHandle::Delete>("delete"),
                                        InstanceMethod<&MapHandle::NextKey>("nextKey"),
                                        InstanceMethod<&MapHandle::LookupBatch>("lookupBatch"),
                                        InstanceMethod<&MapHandle::UpdateBatch>("updateBatch"),
                                        InstanceMethod<&MapHandle::DeleteBatch>("deleteBatch"),
                                        InstanceMethod<&MapHandle::Pin>("pin"),
                                        InstanceMethod<&MapHandle::Close>("close"),
                                    });
  Data(env).mapCtor = Napi::Persistent(ctor);
  exports.Set("MapHandle", ctor);
}

Napi::Object MapHandle::New(Napi::Env env, int fd, const std::string& name) {
  PendingMap pending{fd, name};
  return Data(env).mapCtor.New({Napi::External<PendingMap>::New(env, &pending)});
}

MapHandle::MapHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MapHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal())
    ThrowType(env, "MapHandle is created by BpfObject.map() or openPinnedMap(), not with new");
  PendingMap* pending = info[0].As<Napi::External<PendingMap>>().Data();
  fd_.Reset(pending->fd);
  std::string label = "map " + (pending->name.empty() ? "fd " + std::to_string(fd_.Get()) : pending->name);
  if (BpfFdKind(fd_.Get()) != "map") ThrowErrno(env, EINVAL, label, "open", "not a BPF map");
  struct bpf_map_info mi = {};
  uint32_t len = sizeof mi;
  int err = ErrOf(bpf_obj_get_info_by_fd(fd_.Get(), &mi, &len));
  if (err) ThrowErrno(env, err, label, "get info");
  name_ = pending->name.empty() ? std::string(mi.name) : pending->name;
  label_ = "map " + name_;
  type_ = mi.type;
  keySize_ = mi.key_size;
  valueSize_ = mi.value_size;
  maxEntries_ = mi.max_entries;
  flags_ = mi.map_flags;
  id_ = mi.id;
  valueBufSize_ = valueSize_;
  if (IsPerCpu(type_)) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus < 0) ThrowErrno(env, -cpus, label_, "count possible CPUs");
    valueBufSize_ = ((static_cast<size_t>(valueSize_) + 7) / 8) * 8 * static_cast<size_t>(cpus);
  }
}

int MapHandle::FdOrThrow(const char* op) {
  if (!fd_.Valid()) ThrowErrno(Env(), EBADF, label_, op, "handle is closed");
  return fd_.Get();
}

Napi::Value MapHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", name_);
  out.Set("type", MapTypeName(type_));
  out.Set("typeId", type_);
  out.Set("keySize", keySize_);
  out.Set("valueSize", valueSize_);
  out.Set("valueBufferSize", static_cast<double>(valueBufSize_));
  out.Set("maxEntries", maxEntries_);
  out.Set("flags", flags_);
  out.Set("id", id_);
  return out;
}

Napi::Value MapHandle::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.Get()); }

Napi::Value MapHandle::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("lookup");
  auto key = SizedBufferArg(info, 0, label_, "lookup", "key", keySize_, "key_size");
  auto value = Napi::Buffer<uint8_t>::New(env, valueBufSize_);
  int err = ErrOf(bpf_map_lookup_elem(fd, key.Data(), value.Data()));
  if (err == ENOENT) return env.Undefined();
  if (err) ThrowErrno(env, err, label_, "lookup");
  return value;
}

Napi::Value MapHandle::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("update");
  auto key = SizedBufferArg(info, 0, label_, "update", "key", keySize_, "key_size");
  auto value = SizedBufferArg(info, 1, label_, "update", "value", valueBufSize_,
                              IsPerCpu(type_) ? "value_size rounded to 8 times possible CPUs" : "value_size");
  uint32_t flags = IsMissing(info, 2) ? static_cast<uint32_t>(BPF_ANY) : Uint32Arg(info, 2, label_, "update", "flags");
  int err = ErrOf(bpf_map_update_elem(fd, key.Data(), value.Data(), flags));
  if (err) ThrowErrno(env, err, label_, "update");
  return env.Undefined();
}

Napi::Value MapHandle::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("delete");
  auto key = SizedBufferArg(info, 0, label_, "delete", "key", keySize_, "key_size");
  int err = ErrOf(bpf_map_delete_elem(fd, key.Data()));
  if (err == ENOENT) return Napi::Boolean::New(env, false);
  if (err) ThrowErrno(env, err, label_, "delete");
  return Napi::Boolean::New(env, true);
}

Napi::Value MapHandle::NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("next key");
  const void* prev = nullptr;
  if (!IsMissing(info, 0)) prev = SizedBufferArg(info, 0, label_, "next key", "key", keySize_, "key_size").Data();
  auto next = Napi::Buffer<uint8_t>::New(env, keySize_);
  int err = ErrOf(bpf_map_get_next_key(fd, prev, next.Data()));
  if (err == ENOENT) return env.Undefined();
  if (err) ThrowErrno(env, err, label_, "next key");
  return next;
}

// lookupBatch(token: Buffer | null, maxCount) -> { keys, values, count, token, done }
// The kernel's batch token is a bucket index for hash maps and a key for arrays, so it gets
// max(key_size, 8) bytes; callers pass the returned token back unchanged.
Napi::Value MapHandle::LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("lookup batch");
  size_t tokenSize = std::max<size_t>(keySize_, 8);
  void* in = nullptr;
  if (!IsMissing(info, 0))
    in = SizedBufferArg(info, 0, label_, "lookup batch", "token", tokenSize, "batch token size").Data();
  uint32_t max = Uint32Arg(info, 1, label_, "lookup batch", "maxCount");
  if (max == 0) ThrowRange(env, label_ + ": lookup batch: maxCount must be at least 1");
  auto token = Napi::Buffer<uint8_t>::New(env, tokenSize);
  auto keys = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(max) * keySize_);
  auto values = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(max) * valueBufSize_);
  uint32_t count = max;
  auto opts = LibbpfOpts<bpf_map_batch_opts>();
  int err = ErrOf(bpf_map_lookup_batch(fd, in, token.Data(), keys.Data(), values.Data(), &count, &opts));
  if (err && err != ENOENT) {
    Napi::Object extra = Napi::Object::New(env);
    extra.Set("processed", count);
    ThrowErrno(env, err, label_, "lookup batch", "", extra);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("keys", keys);
  out.Set("values", values);
  out.Set("count", count);
  out.Set("token", token);
  out.Set("done", err == ENOENT);
  return out;
}

// updateBatch(keys: Buffer, values: Buffer, count, flags) -> count; keys and values are packed.
Napi::Value MapHandle::UpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("update batch");
  uint32_t count = Uint32Arg(info, 2, label_, "update batch", "count");
  auto keys = SizedBufferArg(info, 0, label_, "update batch", "keys", static_cast<size_t>(count) * keySize_,
                             "count * key_size");
  auto values = SizedBufferArg(info, 1, label_, "update batch", "values", static_cast<size_t>(count) * valueBufSize_,
                               "count * value size");
  uint32_t flags = IsMissing(info, 3) ? static_cast<uint32_t>(BPF_ANY) : Uint32Arg(info, 3, label_, "update batch", "flags");
  auto opts = LibbpfOpts<bpf_map_batch_opts>();
  opts.elem_flags = flags;
  uint32_t done = count;
  int err = ErrOf(bpf_map_update_batch(fd, keys.Data(), values.Data(), &done, &opts));
  if (err) {
    Napi::Object extra = Napi::Object::New(env);
    extra.Set("processed", done);
    ThrowErrno(env, err, label_, "update batch", "", extra);
  }
  return Napi::Number::New(env, done);
}

// deleteBatch(keys: Buffer, count) -> count; on failure the error's `processed` says how many went.
Napi::Value MapHandle::DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdOrThrow("delete batch");
  uint32_t count = Uint32Arg(info, 1, label_, "delete batch", "count");
  auto keys = SizedBufferArg(info, 0, label_, "delete batch", "keys", static_cast<size_t>(count) * keySize_,
                             "count * key_size");
  auto opts = LibbpfOpts<bpf_map_batch_opts>();
  uint32_t done = count;
  int err = ErrOf(bpf_map_delete_batch(fd, keys.Data(), &done, &opts));
  if (err) {
    Napi::Object extra = Napi::Object::New(env);
    extra.Set("processed", done);
    ThrowErrno(env, err, label_, "delete batch", "", extra);
  }
  return Napi::Number::New(env, done);
}

Napi::Value MapHandle::Pin(const Napi::CallbackInfo& info) {
  int fd = FdOrThrow("pin");
  PinFd(info.Env(), fd, StringArg(info, 0, label_, "pin", "path"), label_);
  return info.Env().Undefined();
}

Napi::Value MapHandle::Close(const Napi::CallbackInfo& info) {
  fd_.Reset();
  return info.Env().Undefined();
}

}  // namespace meshc
