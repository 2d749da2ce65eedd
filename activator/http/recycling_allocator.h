// Part of stages 1 and 4 (read, forward): an allocator for the per-request
// Beast messages whose blocks come back to the thread that frees them.
//
// A Beast header keeps each field in its own heap block, and the request
// target and reason in another; the data path builds two parsed heads and
// rewrites both per request, which was about a dozen malloc/free pairs per
// request. This allocator keeps freed blocks in per-thread lists by size
// class (up to 4 KiB; asio keeps its handler memory the same way) and
// serves the next request from them:
// in steady state the heads allocate nothing. A block freed on another
// thread joins that thread's lists. Each list keeps at most kKeepBytes of
// blocks (the rest go back to malloc): enough for the heads of hundreds of
// requests in flight per thread, and at most 19 x 64 KiB left behind per
// thread after a burst. Larger blocks go straight to operator new.
//
// Thread-safety: stateless; the lists are thread_local.
#pragma once

#include <cstddef>
#include <new>

namespace zs::activator {

namespace recycling_detail {

// Size classes: 32-byte steps up to 512 bytes (a field is its name and
// value plus about 50 bytes, so coarser classes would waste what a held
// request keeps), then 1, 2 and 4 KiB.
inline constexpr size_t kStep = 32;
inline constexpr size_t kSmallLimit = 512;
inline constexpr int kSmallClasses = static_cast<int>(kSmallLimit / kStep);  // 32 .. 512
inline constexpr int kClasses = kSmallClasses + 3;                           // then 1024, 2048, 4096
inline constexpr size_t kKeepBytes = size_t{64} * 1024;                      // per class and thread

struct FreeBlock {
  FreeBlock* next;
};

// Set once this thread's lists are destroyed (thread exit): a message freed
// later on the thread, by another thread_local's destructor, goes straight
// back to operator delete. A plain bool has no destructor, so it stays
// readable to the end of the thread.
inline thread_local bool lists_gone = false;

struct ThreadLists {
  FreeBlock* head[kClasses] = {};
  size_t count[kClasses] = {};
  ThreadLists() = default;
  ThreadLists(const ThreadLists&) = delete;
  ThreadLists& operator=(const ThreadLists&) = delete;
  ~ThreadLists() {
    lists_gone = true;
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
  if (bytes <= kSmallLimit) return bytes == 0 ? 0 : static_cast<int>((bytes - 1) / kStep);
  if (bytes <= 1024) return kSmallClasses;
  if (bytes <= 2048) return kSmallClasses + 1;
  if (bytes <= 4096) return kSmallClasses + 2;
  return -1;
}

inline size_t ClassBytes(int c) {
  return c < kSmallClasses ? kStep * (c + 1) : size_t{1024} << (c - kSmallClasses);
}

// Under AddressSanitizer (the fuzz target) blocks are not kept: a block in
// a list looks live to it, so a read through a stale view of a freed field
// would go unnoticed.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRecycle = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kRecycle = false;
#else
inline constexpr bool kRecycle = true;
#endif
#else
inline constexpr bool kRecycle = true;
#endif

inline void* Allocate(size_t bytes) {
  const int c = ClassOf(bytes);
  if (c < 0 || !kRecycle) return ::operator new(bytes);
  if (lists_gone) return ::operator new(ClassBytes(c));
  ThreadLists& lists = Lists();
  if (FreeBlock* block = lists.head[c]) {
    lists.head[c] = block->next;
    --lists.count[c];
    return block;
  }
  return ::operator new(ClassBytes(c));
}

inline void Deallocate(void* p, size_t bytes) noexcept {
  const int c = ClassOf(bytes);
  if (c < 0 || !kRecycle || lists_gone) {
    ::operator delete(p);
    return;
  }
  ThreadLists& lists = Lists();
  if (lists.count[c] >= kKeepBytes / ClassBytes(c)) {
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
