// gcc 12's ThreadSanitizer intercepts the pthread API but not glibc's C11 threads (thrd_*, mtx_*,
// cnd_*, call_once), which librdkafka uses: a thread started with thrd_create has no TSan state and
// crashes in its first intercepted call, its join goes unseen (a "thread leak"), and
// its locks order nothing, so every hand-over through librdkafka's queues would be a race.
// Linked into the test executables of a TSan build, these definitions take precedence over
// glibc's for librdkafka and forward to the pthread functions TSan does intercept. glibc defines
// the C11 types as the pthread ones (thrd_t is a pthread_t; mtx_t, cnd_t and once_flag have the
// layout of pthread_mutex_t, pthread_cond_t and pthread_once_t), which is what makes the casts
// below valid.

#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace {

struct ThreadStart {
  thrd_start_t function;
  void* argument;
};

void* RunThread(void* raw) {
  const ThreadStart start = *static_cast<ThreadStart*>(raw);
  delete static_cast<ThreadStart*>(raw);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.function(start.argument)));
}

int Result(int error) {
  switch (error) {
    case 0:
      return thrd_success;
    case ETIMEDOUT:
      return thrd_timedout;
    case EBUSY:
      return thrd_busy;
    case ENOMEM:
    case EAGAIN:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

pthread_mutex_t* Native(mtx_t* mutex) { return reinterpret_cast<pthread_mutex_t*>(mutex); }
pthread_cond_t* Native(cnd_t* condition) { return reinterpret_cast<pthread_cond_t*>(condition); }

}  // namespace

extern "C" {

int thrd_create(thrd_t* thread, thrd_start_t function, void* argument) {
  auto* start = new ThreadStart{function, argument};
  const int error = pthread_create(thread, nullptr, RunThread, start);
  if (error != 0) delete start;
  return Result(error);
}

int thrd_join(thrd_t thread, int* result) {
  void* value = nullptr;
  const int error = pthread_join(thread, &value);
  if (error == 0 && result != nullptr) *result = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
  return Result(error);
}

int mtx_init(mtx_t* mutex, int type) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  if ((type & mtx_recursive) != 0) pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
  const int error = pthread_mutex_init(Native(mutex), &attributes);
  pthread_mutexattr_destroy(&attributes);
  return Result(error);
}

int mtx_lock(mtx_t* mutex) { return Result(pthread_mutex_lock(Native(mutex))); }
int mtx_trylock(mtx_t* mutex) { return Result(pthread_mutex_trylock(Native(mutex))); }
int mtx_unlock(mtx_t* mutex) { return Result(pthread_mutex_unlock(Native(mutex))); }
void mtx_destroy(mtx_t* mutex) { pthread_mutex_destroy(Native(mutex)); }

int cnd_init(cnd_t* condition) { return Result(pthread_cond_init(Native(condition), nullptr)); }
int cnd_signal(cnd_t* condition) { return Result(pthread_cond_signal(Native(condition))); }
int cnd_broadcast(cnd_t* condition) { return Result(pthread_cond_broadcast(Native(condition))); }
int cnd_wait(cnd_t* condition, mtx_t* mutex) {
  return Result(pthread_cond_wait(Native(condition), Native(mutex)));
}
int cnd_timedwait(cnd_t* condition, mtx_t* mutex, const struct timespec* deadline) {
  return Result(pthread_cond_timedwait(Native(condition), Native(mutex), deadline));
}
void cnd_destroy(cnd_t* condition) { pthread_cond_destroy(Native(condition)); }

void call_once(once_flag* flag, void (*function)()) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), function);
}

}  // extern "C"
