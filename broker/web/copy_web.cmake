# Called by broker/CMakeLists.txt: STATIC (our files), GOVUK (govuk-frontend/dist/govuk), OUT.
# GOV.UK's typeface (GDS Transport) may only be used on GOV.UK itself, so the stylesheet is
# rewritten to the fallback (Arial) and the fonts are not copied.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT}/assets)
file(COPY ${STATIC}/ DESTINATION ${OUT})
file(READ ${GOVUK}/govuk-frontend.min.css css)
string(REPLACE "font-family:GDS Transport,arial,sans-serif" "font-family:arial,sans-serif" css "${css}")
string(REGEX REPLACE "@font-face{[^}]*}" "" css "${css}")
string(REPLACE "/*# sourceMappingURL=govuk-frontend.min.css.map */" "" css "${css}")
file(WRITE ${OUT}/assets/govuk-frontend.min.css "${css}")
file(READ ${GOVUK}/govuk-frontend.min.js js)
string(REPLACE "//# sourceMappingURL=govuk-frontend.min.js.map" "" js "${js}")
file(WRITE ${OUT}/assets/govuk-frontend.min.js "${js}")
file(TOUCH ${OUT}/.stamp)
