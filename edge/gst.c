/*
 * gst.c - GStreamer initialisation and pipeline parsing for capture and
 * playback (gst.h).
 */
#include "edge/gst.h"

#include <pthread.h>
#include <stdio.h>

static pthread_once_t gst_once = PTHREAD_ONCE_INIT;
static bool gst_ok;
static char gst_err[256];

static void gst_setup(void)
{
    GError *e = NULL;
    gst_ok = gst_init_check(NULL, NULL, &e);
    if (!gst_ok) {
        snprintf(gst_err, sizeof gst_err, "GStreamer did not initialise: %s",
                 e ? e->message : "unknown reason");
        g_clear_error(&e);
    }
}

bool hc_gst_init(char *err, size_t errcap)
{
    pthread_once(&gst_once, gst_setup);
    if (!gst_ok && err && errcap) snprintf(err, errcap, "%s", gst_err);
    return gst_ok;
}

GstElement *hc_gst_parse(const char *desc, const char *what, char *err, size_t errcap)
{
    GstParseContext *ctx = gst_parse_context_new();
    GError *e = NULL;
    GstElement *el = gst_parse_launch_full(desc, ctx, GST_PARSE_FLAG_FATAL_ERRORS, &e);
    if (!el || e) {
        gchar **missing =
            ctx && g_error_matches(e, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT)
                ? gst_parse_context_get_missing_elements(ctx)
                : NULL;
        if (err && errcap) {
            if (missing && missing[0])
                snprintf(err, errcap, "missing GStreamer element \"%s\" (%s)", missing[0],
                         e ? e->message : "not installed");
            else
                snprintf(err, errcap, "%s: %s", what, e ? e->message : "could not be built");
        }
        g_strfreev(missing);
        g_clear_error(&e);
        if (el) gst_object_unref(el);
        el = NULL;
    }
    if (ctx) gst_parse_context_free(ctx);
    return el;
}
