/*
 * Loaded by every admin page (templates/admin/base_site.html), after the admin's own scripts.
 *
 * Django's two-box filter (SelectFilter2.js, filter_horizontal: a user's groups and permissions) names each of
 * its search boxes with an aria-label on the magnifier <span> inside the box's <label>. A plain <span> may not
 * carry one (axe-core's aria-prohibited-attr), so screen readers may drop that name: made an image, the icon is
 * named by it and the box by its label. The filter is built on the window's load, so this runs on load too,
 * its listener being added after the filter's.
 */
"use strict";

window.addEventListener("load", () => {
  for (const icon of document.querySelectorAll(".search-label-icon[aria-label]:not([role])")) {
    icon.setAttribute("role", "img");
  }
});
