// libbpf_log.cc: the libbpf print callback and the capture it feeds.
#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace meshc {

static thread_local LibbpfCapture* active = nullptr;
static bool debug = false;

static int Print(enum libbpf_print_level level, const char* format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  if (debug) vfprintf(stderr, format, copy);
  va_end(copy);
  if (!active || level == LIBBPF_DEBUG) return 0;
  char small[512];
  va_list sized;
  va_copy(sized, args);
  int n = vsnprintf(small, sizeof small, format, sized);
  va_end(sized);
  if (n < 0) return 0;
  std::string text;
  if (static_cast<size_t>(n) < sizeof small) {
    text.assign(small, n);
  } else {
    text.resize(n + 1);
    vsnprintf(text.data(), text.size(), format, args);
    text.resize(n);
  }
  active->Add(level == LIBBPF_WARN, text);
  return 0;
}

void InstallLibbpfPrint() {
  const char* env = getenv("MESHC_LIBBPF_DEBUG");
  debug = env && strcmp(env, "1") == 0;
  libbpf_set_print(Print);
}

LibbpfCapture::LibbpfCapture() : previous_(active) { active = this; }
LibbpfCapture::~LibbpfCapture() { active = previous_; }

void LibbpfCapture::Add(bool warning, const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines_.push_back({warning, text.substr(start, end - start)});
    start = end + 1;
  }
}

std::string LibbpfCapture::FirstWarning() const {
  for (const Line& line : lines_) {
    if (!line.warning) continue;
    std::string text = line.text;
    if (text.rfind("libbpf: ", 0) == 0) text = text.substr(8);
    return text;
  }
  return "";
}

std::string LibbpfCapture::Text() const {
  std::string out;
  for (const Line& line : lines_) out += line.text + "\n";
  return out;
}

}  // namespace meshc
