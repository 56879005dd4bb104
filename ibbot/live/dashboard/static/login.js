// The login form: say when a token was refused; after a login, keep the CSRF token for the
// dashboard's actions (localStorage is per origin, the port included) and open the dashboard.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="ibbot-csrf"]');
  if (meta) {
    localStorage.setItem("ibbot-csrf", meta.content);
    window.location.replace("/");
    return;
  }
  if (new URLSearchParams(window.location.search).has("failed")) {
    document.getElementById("failed").hidden = false;
  }
})();
