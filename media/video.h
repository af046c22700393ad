/*
 * In-memory video decoding through FFmpeg's libraries: the bytes are read through a custom
 * AVIOContext over the caller's buffer and never written to disk; the demuxer may not open
 * any other resource (playlists, data references, image sequences are refused). Frames come
 * out in decoder order, numbered from 0 as the decoder returns them, and can be converted to
 * RGB24 with swscale (SWS_AREA, as the reference vPDQ does).
 *
 * Not thread-safe per object; distinct objects may be used from distinct threads.
 */
#ifndef GIF_MEDIA_VIDEO_H
#define GIF_MEDIA_VIDEO_H

#include <stddef.h>
#include <stdint.h>

/* Default cap on the pixels of one frame (width * height): 8192 x 4320. */
#define MEDIA_VIDEO_MAX_PIXELS_DEFAULT (8192u * 4320u)

struct media_video;

struct media_video_info {
    int width, height;  /* the stream's coded size (first frame's when the stream has none) */
    double fps;         /* avg_frame_rate, or r_frame_rate when that is 0 (as the reference) */
    double duration_s;  /* 0 when unknown */
    int64_t nb_frames;  /* from the container's index; 0 when unknown */
    const char *codec;  /* short decoder name, static */
    const char *format; /* short demuxer name, static */
};

/* A border to remove before conversion, in pixels of the decoded frame. */
struct media_video_crop {
    int top, bottom, left, right;
};

/*
 * Opens a video held in memory (buf must stay valid until media_video_close). deadline_ns is
 * a gif_mono_ns() time after which every further read or decode fails with -ETIMEDOUT (0: no
 * deadline); max_pixels caps the frame size (0: the default). Returns 0, GIF_E_INVALID (not a
 * decodable video: no video stream, unknown codec, zero frame rate), GIF_E_TOOBIG (frame
 * size), -ETIMEDOUT or -ENOMEM, with a one-line reason in err.
 */
int media_video_open(const uint8_t *buf, size_t len, uint64_t deadline_ns, uint64_t max_pixels,
                     struct media_video **out, char *err, size_t errlen);
void media_video_close(struct media_video *v);
const struct media_video_info *media_video_info(const struct media_video *v);

/*
 * Decodes the next frame. Returns 1 with its 0-based decoder index in *index, 0 at the end of
 * a clean stream, or a negative code when the stream is truncated or corrupt or the deadline
 * passed (err says which and where; frames returned before stay valid). After a negative
 * return the frames still buffered in the decoder are drained by further calls before 0.
 */
int media_video_next(struct media_video *v, uint32_t *index, char *err, size_t errlen);

/* 1 when a packet was cut short by the end of the data (the container promised more). */
int media_video_saw_truncation(const struct media_video *v);

/* How many frames so far the decoder flagged as damaged (it concealed errors in them), and
 * the index of the first in *first (may be NULL). */
uint32_t media_video_damaged(const struct media_video *v, uint32_t *first);

/*
 * Converts the current frame to RGB24, after removing crop (NULL: none), scaled to w x h
 * (0, 0: the stream's size, minus the crop). *px points into a buffer owned by v, valid until
 * the next call on v; rows are *stride bytes apart. Returns 0, GIF_E_INVALID (no current
 * frame, crop larger than the frame) or -ENOMEM.
 */
int media_video_rgb(struct media_video *v, const struct media_video_crop *crop, int w, int h,
                    const uint8_t **px, int *out_w, int *out_h, size_t *stride);

/*
 * Seeks to the key frame at or before t seconds and flushes the decoder, for sampling (frame
 * indexes after a seek are not meaningful). Returns 0 or a negative code (not seekable).
 */
int media_video_seek(struct media_video *v, double t);

#endif
