// object.cc: ObjectHandle, a bpf_object from open to close: pinned-map adoption, .rodata globals,
// load with verifier-log capture, and the programs and maps it holds.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "handles.h"
#include "libbpf_log.h"

namespace meshc {

namespace {

constexpr size_t kDefaultLogSize = 16 << 20;

// One variable of a global-data section (.rodata, .data, .bss), found through the object's BTF.
struct GlobalVar {
  bpf_map* map = nullptr;
  std::string section;
  uint32_t offset = 0;
  uint32_t size = 0;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Calls fn(name, var) for every global variable. libbpf names an internal map "<obj>.rodata"
// (truncated object name, then the section), so a map belongs to the datasec its name ends with.
template <class Fn>
void ForEachGlobal(bpf_object* obj, Fn fn) {
  const struct btf* btf = bpf_object__btf(obj);
  if (!btf) return;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (!bpf_map__is_internal(map)) continue;
    std::string mapName = bpf_map__name(map);
    for (uint32_t id = 1; id < btf__type_cnt(btf); id++) {
      const struct btf_type* t = btf__type_by_id(btf, id);
      if (!btf_is_datasec(t)) continue;
      std::string section = btf__name_by_offset(btf, t->name_off);
      if (section.empty() || !EndsWith(mapName, section)) continue;
      const struct btf_var_secinfo* vsi = btf_var_secinfos(t);
      for (uint16_t i = 0; i < btf_vlen(t); i++, vsi++) {
        const struct btf_type* var = btf__type_by_id(btf, vsi->type);
        GlobalVar g;
        g.map = map;
        g.section = section;
        g.offset = vsi->offset;
        g.size = vsi->size;
        fn(std::string(btf__name_by_offset(btf, var->name_off)), g);
      }
    }
  }
}

// Flags the kernel sets on its own when creating a map of this type, absent from the object.
uint32_t KernelAddedFlags(uint32_t type) {
  return type == BPF_MAP_TYPE_DEVMAP || type == BPF_MAP_TYPE_DEVMAP_HASH ? BPF_F_RDONLY_PROG : 0;
}

int DupFd(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

std::vector<std::string> NonEmptyLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Statistics the verifier appends after the reason; they never explain a rejection.
bool IsVerifierStats(const std::string& line) {
  return line.rfind("processed ", 0) == 0 || line.rfind("verification time ", 0) == 0 ||
         line.rfind("stack depth ", 0) == 0;
}

}  // namespace

void ObjectHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "ObjectHandle",
                                    {
                                        InstanceMethod<&ObjectHandle::Globals>("globals"),
                                        InstanceMethod<&ObjectHandle::SetGlobal>("setGlobal"),
                                        InstanceMethod<&ObjectHandle::Load>("load"),
                                        InstanceMethod<&ObjectHandle::Programs>("programs"),
                                        InstanceMethod<&ObjectHandle::Maps>("maps"),
                                        InstanceMethod<&ObjectHandle::Program>("program"),
                                        InstanceMethod<&ObjectHandle::Map>("map"),
                                        InstanceMethod<&ObjectHandle::Close>("close"),
                                    });
  Data(env).objectCtor = Napi::Persistent(ctor);
  exports.Set("ObjectHandle", ctor);
}

// new ObjectHandle(path, { pinRoot?, logSize? }): opens (parses) the object; nothing reaches the
// kernel until load(). With pinRoot every non-internal map gets the pin path pinRoot/<name>, so
// load() adopts a map already pinned there (after an agent restart) and pins new ones.
ObjectHandle::ObjectHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ObjectHandle>(info) {
  Napi::Env env = info.Env();
  path_ = StringArg(info, 0, "object", "open", "path");
  label_ = "object " + path_;
  std::string pinRoot;
  logSize_ = kDefaultLogSize;
  if (!IsMissing(info, 1)) {
    if (!info[1].IsObject()) ThrowType(env, label_ + ": open: options must be an object");
    Napi::Object opts = info[1].As<Napi::Object>();
    Napi::Value root = opts.Get("pinRoot");
    if (!root.IsUndefined()) {
      if (!root.IsString() || root.As<Napi::String>().Utf8Value().empty())
        ThrowType(env, label_ + ": open: pinRoot must be a non-empty string");
      pinRoot = root.As<Napi::String>().Utf8Value();
      while (pinRoot.size() > 1 && pinRoot.back() == '/') pinRoot.pop_back();
    }
    Napi::Value logSize = opts.Get("logSize");
    if (!logSize.IsUndefined()) {
      double v = logSize.IsNumber() ? logSize.As<Napi::Number>().DoubleValue() : 0;
      if (!(v >= 4096 && v <= (1u << 30))) ThrowRange(env, label_ + ": open: logSize must be a number in 4096..2^30");
      logSize_ = static_cast<size_t>(v);
    }
  }
  auto opts = LibbpfOpts<bpf_object_open_opts>();
  if (!pinRoot.empty()) opts.pin_root_path = pinRoot.c_str();
  LibbpfCapture capture;
  obj_ = bpf_object__open_file(path_.c_str(), &opts);
  int openErr = errno;
  if (!obj_) ThrowErrno(env, openErr, label_, "open", capture.FirstWarning());
  if (pinRoot.empty()) return;
  bpf_map* map;
  bpf_object__for_each_map(map, obj_) {
    if (bpf_map__is_internal(map)) continue;
    std::string pin = pinRoot + "/" + bpf_map__name(map);
    int err = ErrOf(bpf_map__set_pin_path(map, pin.c_str()));
    if (err) ThrowErrno(env, err, std::string("map ") + bpf_map__name(map), "set pin path", pin);
  }
}

ObjectHandle::~ObjectHandle() {
  if (obj_) bpf_object__close(obj_);
}

bpf_object* ObjectHandle::ObjOrThrow(const char* op) {
  if (!obj_) ThrowErrno(Env(), EBADF, label_, op, "object is closed");
  return obj_;
}

bpf_map* ObjectHandle::FindMap(const std::string& name, const char* op) {
  bpf_map* map = bpf_object__find_map_by_name(ObjOrThrow(op), name.c_str());
  if (!map) ThrowErrno(Env(), ENOENT, label_, op, "no map named " + name);
  return map;
}

bpf_program* ObjectHandle::FindProgram(const std::string& name, const char* op) {
  bpf_program* prog = bpf_object__find_program_by_name(ObjOrThrow(op), name.c_str());
  if (!prog) ThrowErrno(Env(), ENOENT, label_, op, "no program named " + name);
  return prog;
}

Napi::Value ObjectHandle::Globals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  ForEachGlobal(ObjOrThrow("globals"), [&](const std::string& name, const GlobalVar& g) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", name);
    o.Set("section", g.section);
    o.Set("offset", g.offset);
    o.Set("size", g.size);
    out.Set(out.Length(), o);
  });
  return out;
}

// setGlobal(name, value): sets a global's initial bytes (a `const volatile` knob in .rodata, or
// .data/.bss) before load; the value must be exactly the variable's size.
Napi::Value ObjectHandle::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = ObjOrThrow("set global");
  std::string name = StringArg(info, 0, label_, "set global", "name");
  if (loaded_) ThrowErrno(env, EBUSY, label_, "set global " + name, "object is already loaded");
  bool found = false;
  GlobalVar var;
  ForEachGlobal(obj, [&](const std::string& n, const GlobalVar& g) {
    if (n == name && !found) {
      found = true;
      var = g;
    }
  });
  if (!found) ThrowErrno(env, ENOENT, label_, "set global " + name, "no such global variable (is it used by a program?)");
  std::string what = "global " + name;
  auto value = SizedBufferArg(info, 1, label_, "set global", what.c_str(), var.size, "the variable's size");
  size_t size = 0;
  const void* current = bpf_map__initial_value(var.map, &size);
  if (!current || var.offset + var.size > size)
    ThrowErrno(env, EINVAL, label_, "set global " + name, "section " + var.section + " has no initial value");
  std::vector<uint8_t> data(static_cast<const uint8_t*>(current), static_cast<const uint8_t*>(current) + size);
  memcpy(data.data() + var.offset, value.Data(), var.size);
  int err = ErrOf(bpf_map__set_initial_value(var.map, data.data(), size));
  if (err) ThrowErrno(env, err, label_, "set global " + name);
  return env.Undefined();
}

// Adopts the maps whose pin exists, after checking that the pinned map has the object's shape
// (naming the field that differs; libbpf would only say "parameter mismatch"). The adoption is
// done here with bpf_map__reuse_fd rather than left to libbpf because libbpf 1.1 compares
// map_flags literally and so never reuses a devmap, whose flags the kernel extends. Removing the
// pin recreates the map (its entries are lost).
void ObjectHandle::AdoptPinnedMaps(Napi::Env env) {
  bpf_map* map;
  bpf_object__for_each_map(map, obj_) {
    const char* pinPath = bpf_map__pin_path(map);
    if (!pinPath || access(pinPath, F_OK) != 0) continue;
    std::string pin = pinPath;
    std::string label = std::string("map ") + bpf_map__name(map);
    OwnedFd fd(bpf_obj_get(pin.c_str()));
    if (!fd.Valid()) ThrowErrno(env, errno, label, "open pin", pin);
    if (BpfFdKind(fd.Get()) != "map") ThrowErrno(env, EINVAL, label, "reuse pin", pin + " is not a map");
    struct bpf_map_info mi = {};
    uint32_t len = sizeof mi;
    int err = ErrOf(bpf_obj_get_info_by_fd(fd.Get(), &mi, &len));
    if (err) ThrowErrno(env, err, label, "reuse pin", pin);
    uint32_t added = KernelAddedFlags(mi.type);
    struct Field {
      const char* name;
      uint64_t pinned, wanted;
    } fields[] = {
        {"type", mi.type, static_cast<uint64_t>(bpf_map__type(map))},
        {"key_size", mi.key_size, bpf_map__key_size(map)},
        {"value_size", mi.value_size, bpf_map__value_size(map)},
        {"max_entries", mi.max_entries, bpf_map__max_entries(map)},
        {"map_flags", mi.map_flags & ~added, bpf_map__map_flags(map) & ~added},
    };
    for (const Field& f : fields) {
      if (f.pinned == f.wanted) continue;
      ThrowErrno(env, EINVAL, label, "reuse pin",
                 pin + " has " + f.name + " " + std::to_string(f.pinned) + ", the object wants " +
                     std::to_string(f.wanted) + " (remove the pin to recreate the map)");
    }
    err = ErrOf(bpf_map__reuse_fd(map, fd.Get()));  // libbpf keeps its own dup
    if (err) ThrowErrno(env, err, label, "reuse pin", pin);
    // Already pinned: libbpf must neither re-check nor re-pin it.
    bpf_map__set_pin_path(map, nullptr);
    adopted_[bpf_map__name(map)] = pin;
  }
}

Napi::Value ObjectHandle::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_object* obj = ObjOrThrow("load");
  if (loaded_) ThrowErrno(env, EBUSY, label_, "load", "object is already loaded");
  AdoptPinnedMaps(env);

  // One log buffer per program: libbpf loads with log_level 0 and, only when a program fails,
  // reloads it with log_level 1 into its buffer, so the failing program is the one whose buffer
  // is non-empty. The buffers are not touched (nor paged in) unless the kernel writes them.
  struct ProgLog {
    bpf_program* prog;
    std::unique_ptr<char[]> buf;
  };
  std::vector<ProgLog> logs;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog)) continue;
    ProgLog log{prog, std::unique_ptr<char[]>(new char[logSize_])};
    log.buf[0] = '\0';
    bpf_program__set_log_buf(prog, log.buf.get(), logSize_);
    logs.push_back(std::move(log));
  }

  int err;
  std::string warning, libbpfLog;
  {
    LibbpfCapture capture;
    err = ErrOf(bpf_object__load(obj));
    warning = capture.FirstWarning();
    libbpfLog = capture.Text();
  }
  // The verifier log outlives the buffers as a std::string.
  std::string failedProg, verifierLog;
  for (ProgLog& log : logs) {
    if (failedProg.empty() && err && log.buf[0] != '\0') {
      failedProg = bpf_program__name(log.prog);
      verifierLog = log.buf.get();
    }
    bpf_program__set_log_buf(log.prog, nullptr, 0);
  }
  logs.clear();
  loaded_ = true;
  if (!err) return env.Undefined();

  if (failedProg.empty()) {
    Napi::Object extra = Napi::Object::New(env);
    extra.Set("libbpfLog", libbpfLog);
    ThrowErrno(env, err, label_, "load", warning, extra);
  }
  std::vector<std::string> lines = NonEmptyLines(verifierLog);
  std::vector<std::string> reasons;
  for (const std::string& line : lines)
    if (!IsVerifierStats(line)) reasons.push_back(line);
  size_t shown = std::min<size_t>(2, reasons.size());
  std::string summary;
  for (size_t i = reasons.size() - shown; i < reasons.size(); i++) summary += (summary.empty() ? "" : ": ") + reasons[i];
  std::string message = "program " + failedProg + ": verifier rejected: " + summary;
  size_t omitted = lines.size() - shown;
  if (omitted > 0) message += " (" + std::to_string(omitted) + " lines omitted)";
  bool truncated = err == ENOSPC;
  if (truncated) message += " (log truncated at " + std::to_string(logSize_) + " bytes; raise logSize)";
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("kind", "verifier");
  fields.Set("errno", err);
  fields.Set("code", ErrnoName(err));
  fields.Set("op", "load");
  fields.Set("object", "program " + failedProg);
  fields.Set("program", failedProg);
  fields.Set("verifierLog", verifierLog);
  fields.Set("truncated", truncated);
  fields.Set("libbpfLog", libbpfLog);
  ThrowFields(env, message, fields);
}

Napi::Value ObjectHandle::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  bpf_program* prog;
  bpf_object__for_each_program(prog, ObjOrThrow("list programs")) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(prog));
    o.Set("section", bpf_program__section_name(prog));
    o.Set("type", ProgTypeName(bpf_program__type(prog)));
    int attach = ExpectedAttachType(bpf_program__type(prog), bpf_program__expected_attach_type(prog));
    if (attach >= 0) o.Set("attachType", AttachTypeName(attach));
    o.Set("autoload", bpf_program__autoload(prog));
    o.Set("fd", bpf_program__fd(prog) < 0 ? -1 : bpf_program__fd(prog));
    out.Set(out.Length(), o);
  }
  return out;
}

Napi::Value ObjectHandle::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  bpf_map* map;
  bpf_object__for_each_map(map, ObjOrThrow("list maps")) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(map));
    o.Set("type", MapTypeName(bpf_map__type(map)));
    o.Set("keySize", bpf_map__key_size(map));
    o.Set("valueSize", bpf_map__value_size(map));
    o.Set("maxEntries", bpf_map__max_entries(map));
    o.Set("flags", bpf_map__map_flags(map));
    o.Set("internal", bpf_map__is_internal(map));
    o.Set("fd", bpf_map__fd(map) < 0 ? -1 : bpf_map__fd(map));
    auto adopted = adopted_.find(bpf_map__name(map));
    const char* pin = bpf_map__pin_path(map);
    if (adopted != adopted_.end()) {
      o.Set("pinPath", adopted->second);
      o.Set("pinned", true);
    } else {
      if (pin) o.Set("pinPath", pin);
      o.Set("pinned", bpf_map__is_pinned(map));
    }
    o.Set("adopted", adopted != adopted_.end());
    out.Set(out.Length(), o);
  }
  return out;
}

// program(name) -> ProgramHandle on a dup of the program's fd (valid after the object closes).
Napi::Value ObjectHandle::Program(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, label_, "program", "name");
  bpf_program* prog = FindProgram(name, "program");
  if (bpf_program__fd(prog) < 0) ThrowErrno(env, EBADF, "program " + name, "open", "not loaded");
  int fd = DupFd(bpf_program__fd(prog));
  if (fd < 0) ThrowErrno(env, errno, "program " + name, "dup fd");
  return ProgramHandle::New(env, fd, name, bpf_program__section_name(prog),
                            ExpectedAttachType(bpf_program__type(prog), bpf_program__expected_attach_type(prog)));
}

// map(name) -> MapHandle on a dup of the map's fd (valid after the object closes).
Napi::Value ObjectHandle::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, label_, "map", "name");
  bpf_map* map = FindMap(name, "map");
  if (bpf_map__fd(map) < 0) ThrowErrno(env, EBADF, "map " + name, "open", "not loaded");
  int fd = DupFd(bpf_map__fd(map));
  if (fd < 0) ThrowErrno(env, errno, "map " + name, "dup fd");
  return MapHandle::New(env, fd, name);
}

Napi::Value ObjectHandle::Close(const Napi::CallbackInfo& info) {
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
  return info.Env().Undefined();
}

}  // namespace meshc
