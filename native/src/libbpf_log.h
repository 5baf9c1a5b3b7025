// libbpf_log.h: routes libbpf's print callback into a per-operation capture that errors quote.
#pragma once

#include <string>
#include <vector>

namespace meshc {

// Installs the process-wide libbpf print function. libbpf output is kept, not printed, except
// when MESHC_LIBBPF_DEBUG=1 (then every level goes to stderr as well).
void InstallLibbpfPrint();

// While alive, collects the libbpf messages printed on this thread.
class LibbpfCapture {
 public:
  LibbpfCapture();
  ~LibbpfCapture();
  LibbpfCapture(const LibbpfCapture&) = delete;
  LibbpfCapture& operator=(const LibbpfCapture&) = delete;

  void Add(bool warning, const std::string& text);
  // The first warning line, without the "libbpf: " prefix: usually the most specific cause.
  std::string FirstWarning() const;
  std::string Text() const;

 private:
  struct Line {
    bool warning;
    std::string text;
  };
  std::vector<Line> lines_;
  LibbpfCapture* previous_;
};

}  // namespace meshc
