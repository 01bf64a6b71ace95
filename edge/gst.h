/*
 * gst.h - what capture.c and playback.c both need from GStreamer: one
 * initialisation for the process and parsing a pipeline description with
 * an error an admin can act on (the missing element named).
 *
 * Threading: both may be called from any thread.
 */
#ifndef HC_EDGE_GST_H
#define HC_EDGE_GST_H

#include <gst/gst.h>
#include <stdbool.h>
#include <stddef.h>

/* gst_init once; false (and the reason in err) when GStreamer cannot start. */
bool hc_gst_init(char *err, size_t errcap);

/* gst_parse_launch of desc, or NULL with err saying which element is
 * missing or, after "what: ", the parser's message. */
GstElement *hc_gst_parse(const char *desc, const char *what, char *err, size_t errcap);

#endif
