#include <linux/videodev2.h>
#include <libv4l2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <fcntl.h>

// Swift imports neither variadic C functions nor the function-like _IOWR request macros:
// these non-variadic wrappers and constants make the libv4l2 entry points and ioctl numbers callable.

static inline int cv4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
static inline int cv4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }
/// Plain kernel ioctl (no libv4l2 emulation), for probing device nodes that libv4l2 rejects.
static inline int cv4l2_raw_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }

static inline unsigned long cv4l2_VIDIOC_QUERYCAP(void) { return VIDIOC_QUERYCAP; }
static inline unsigned long cv4l2_VIDIOC_ENUM_FMT(void) { return VIDIOC_ENUM_FMT; }
static inline unsigned long cv4l2_VIDIOC_ENUM_FRAMESIZES(void) { return VIDIOC_ENUM_FRAMESIZES; }
static inline unsigned long cv4l2_VIDIOC_ENUM_FRAMEINTERVALS(void) { return VIDIOC_ENUM_FRAMEINTERVALS; }
static inline unsigned long cv4l2_VIDIOC_G_FMT(void) { return VIDIOC_G_FMT; }
static inline unsigned long cv4l2_VIDIOC_S_FMT(void) { return VIDIOC_S_FMT; }
static inline unsigned long cv4l2_VIDIOC_G_PARM(void) { return VIDIOC_G_PARM; }
static inline unsigned long cv4l2_VIDIOC_S_PARM(void) { return VIDIOC_S_PARM; }
static inline unsigned long cv4l2_VIDIOC_REQBUFS(void) { return VIDIOC_REQBUFS; }
static inline unsigned long cv4l2_VIDIOC_QUERYBUF(void) { return VIDIOC_QUERYBUF; }
static inline unsigned long cv4l2_VIDIOC_QBUF(void) { return VIDIOC_QBUF; }
static inline unsigned long cv4l2_VIDIOC_DQBUF(void) { return VIDIOC_DQBUF; }
static inline unsigned long cv4l2_VIDIOC_STREAMON(void) { return VIDIOC_STREAMON; }
static inline unsigned long cv4l2_VIDIOC_STREAMOFF(void) { return VIDIOC_STREAMOFF; }
static inline unsigned long cv4l2_VIDIOC_QUERY_EXT_CTRL(void) { return VIDIOC_QUERY_EXT_CTRL; }
static inline unsigned long cv4l2_VIDIOC_G_CTRL(void) { return VIDIOC_G_CTRL; }
static inline unsigned long cv4l2_VIDIOC_S_CTRL(void) { return VIDIOC_S_CTRL; }

static inline unsigned int cv4l2_fourcc(char a, char b, char c, char d) { return v4l2_fourcc(a, b, c, d); }

// A libv4lconvert converter bound to no device: every query but QUERYCAP answers EINVAL. Benchmarks use it
// as the reference C implementation of the YUYV/MJPEG -> RGB24 conversions cameras get through libv4l2.
#include <libv4lconvert.h>
#include <libv4l-plugin.h>
#include <errno.h>
#include <string.h>

static int cv4l2_stub_ioctl(void *priv, int fd, unsigned long int request, void *arg) {
    (void)priv; (void)fd;
    if (request == VIDIOC_QUERYCAP) {
        struct v4l2_capability *cap = (struct v4l2_capability *)arg;
        memset(cap, 0, sizeof *cap);
        cap->capabilities = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING | V4L2_CAP_DEVICE_CAPS;
        cap->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
        return 0;
    }
    errno = EINVAL;
    return -1;
}

static const struct libv4l_dev_ops cv4l2_stub_ops = { .ioctl = cv4l2_stub_ioctl };

static inline struct v4lconvert_data *cv4l2_converter_without_device(void) {
    return v4lconvert_create_with_dev_ops(-1, NULL, &cv4l2_stub_ops);
}
