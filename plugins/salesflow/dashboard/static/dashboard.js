// The "Sales pipeline" page: loads each panel's server-drawn fragment (charts are SVG made by
// salesflow.dashboard.charts), one request per panel, and again every minute. Same origin only.
"use strict";

const REFRESH_MS = 60000;

async function problem(response) {
  if (response.status === 401 || response.status === 403) {
    return "Your Airflow session has ended: log in again.";
  }
  try {
    const body = await response.json();
    return `${response.status}: ${body.detail}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function loadPanel(section) {
  const body = section.querySelector(".body");
  try {
    const response = await fetch(`panels/${section.dataset.panel}`, { credentials: "same-origin" });
    if (!response.ok) {
      body.textContent = `Could not load this panel: ${await problem(response)}`;
      section.dataset.state = "error";
      return;
    }
    // Drawn by the server with every data value escaped (salesflow.dashboard.render).
    body.innerHTML = await response.text();
    section.dataset.state = "ready";
  } catch (error) {
    body.textContent = `Could not load this panel: ${error.message}`;
    section.dataset.state = "error";
  }
}

async function refresh() {
  const sections = Array.from(document.querySelectorAll("section[data-panel]"));
  await Promise.all(sections.map(loadPanel));
  document.getElementById("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  setInterval(refresh, REFRESH_MS);
});
