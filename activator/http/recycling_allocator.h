// Part of stages 1 and 4 (read, forward): an allocator for the per-request
// Beast messages whose blocks come back to the thread that frees them.
//
// A Beast header keeps each field in its own heap block, and the request
// target and reason in another; the data path builds two parsed heads and
// rewrites both per request, which was about a dozen malloc/free pairs per
// request. This allocator keeps freed blocks in per-thread lists by size
// class (powers of two from 64 bytes to 4 KiB, as asio's recycling
// allocator keeps its handler memory) and serves the next request from them:
// in steady state the heads allocate nothing. A block freed on another
// thread joins that thread's lists. Each list keeps at most kKeepBytes of
// blocks (the rest go back to malloc): enough for the heads of hundreds of
// requests in flight per thread, and at most 7 x 128 KiB left behind per
// thread after a burst. Larger blocks go straight to operator new.
//
// Thread-safety: stateless; the lists are thread_local.
#pragma once

#include <cstddef>
#include <new>

namespace zs::activator {

namespace recycling_detail {

inline constexpr size_t kMinClassBytes = 64;
inline constexpr int kClasses = 7;                // 64, 128, ..., 4096
inline constexpr size_t kKeepBytes = size_t{128} * 1024;  // per class and thread

struct FreeBlock {
  FreeBlock* next;
};

struct ThreadLists {
  FreeBlock* head[kClasses] = {};
  size_t count[kClasses] = {};
  ThreadLists() = default;
  ThreadLists(const ThreadLists&) = delete;
  ThreadLists& operator=(const ThreadLists&) = delete;
  ~ThreadLists() {
    for (int c = 0; c < kClasses; ++c) {
      while (head[c] != nullptr) {
        FreeBlock* block = head[c];
        head[c] = block->next;
        ::operator delete(block);
      }
    }
  }
};

inline ThreadLists& Lists() {
  thread_local ThreadLists lists;
  return lists;
}

// The size class of a block of `bytes`, or -1 when it is too large to keep.
inline int ClassOf(size_t bytes) {
  size_t size = kMinClassBytes;
  for (int c = 0; c < kClasses; ++c, size *= 2) {
    if (bytes <= size) return c;
  }
  return -1;
}

inline void* Allocate(size_t bytes) {
  const int c = ClassOf(bytes);
  if (c < 0) return ::operator new(bytes);
  ThreadLists& lists = Lists();
  if (FreeBlock* block = lists.head[c]) {
    lists.head[c] = block->next;
    --lists.count[c];
    return block;
  }
  return ::operator new(kMinClassBytes << c);
}

inline void Deallocate(void* p, size_t bytes) noexcept {
  const int c = ClassOf(bytes);
  if (c < 0) {
    ::operator delete(p);
    return;
  }
  ThreadLists& lists = Lists();
  if (lists.count[c] >= (kKeepBytes / kMinClassBytes) >> c) {
    ::operator delete(p);
    return;
  }
  lists.head[c] = new (p) FreeBlock{lists.head[c]};
  ++lists.count[c];
}

}  // namespace recycling_detail

template <class T>
class RecyclingAllocator {
 public:
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "blocks have operator new's alignment");

  RecyclingAllocator() noexcept = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>& /*other*/) noexcept {
  }  // NOLINT(google-explicit-constructor)

  T* allocate(size_t n) { return static_cast<T*>(recycling_detail::Allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { recycling_detail::Deallocate(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const RecyclingAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

}  // namespace zs::activator
