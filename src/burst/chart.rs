//! The chart of a burst: requests per second and ready pods per service over
//! time, as SVG.
//!
//! SVG only: a PNG would need plotters' bitmap backend, an image encoder and
//! a TrueType font at run time for its text. Convert the SVG when a bitmap is
//! needed, e.g. `rsvg-convert -o burst.png burst.svg`.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::timeline::{ServiceScaling, Timeline};

/// Width of the chart, in SVG pixels.
const WIDTH: u32 = 1000;
/// Height of the plot; below it, one line of callouts per service.
const PLOT_HEIGHT: u32 = 500;
/// Height of one callout line.
const CALLOUT_HEIGHT: u32 = 20;

/// Requests per second (one value per whole second since origin; may be
/// empty for `--watch` alone) and ready pods per service over time, as an
/// SVG file: rps on the left axis, ready pods (step lines, one colour per
/// service, legend) on the right axis, vertical marks for load start/end,
/// and callouts per service: "scale-up 3.2 s", "peak 5", "to zero 94 s"
/// (from [`Timeline::scaling`]).
pub fn write_svg(
    path: &Path,
    title: &str,
    rps: &[f64],
    timeline: &Timeline,
    scaling: &[ServiceScaling],
    load: Option<(f64, f64)>,
    until_s: f64,
) -> anyhow::Result<()> {
    let svg = render_svg(title, rps, timeline, scaling, load, until_s)?;
    std::fs::write(path, svg).with_context(|| format!("cannot write the chart {}", path.display()))
}

/// The SVG document [`write_svg`] writes.
pub fn render_svg(
    title: &str,
    rps: &[f64],
    timeline: &Timeline,
    scaling: &[ServiceScaling],
    load: Option<(f64, f64)>,
    until_s: f64,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw(&mut svg, title, rps, timeline, scaling, load, until_s)
        .map_err(|e| anyhow::anyhow!("cannot draw the chart: {e}"))?;
    Ok(svg)
}

/// The ready pods of one service as a step line: each value holds until the
/// next change, from 0 (ready 0 before the service was seen) to `until_s`.
pub fn ready_steps(timeline: &Timeline, service: &str, until_s: f64) -> Vec<(f64, f64)> {
    let mut points = vec![(0.0, 0.0)];
    let mut ready = 0.0;
    for change in timeline
        .changes()
        .iter()
        .filter(|c| c.service == service && c.at_s <= until_s)
    {
        let next = f64::from(change.counts.ready);
        if next != ready {
            points.push((change.at_s, ready));
            points.push((change.at_s, next));
            ready = next;
        }
    }
    points.push((until_s, ready));
    points
}

/// A service's callout: `pact-producer: scale-up 3.2 s, peak 5, to zero 94 s`.
pub fn callout(scaling: &ServiceScaling) -> String {
    let scale_up = match scaling.scale_up_delay_s {
        Some(delay) => format!("scale-up {}", seconds(delay)),
        None => "no scale-up".to_owned(),
    };
    let to_zero = match scaling.to_zero_s {
        Some(to_zero) => format!("to zero {}", seconds(to_zero)),
        None => "not back to zero".to_owned(),
    };
    format!(
        "{}: {scale_up}, peak {} at {}, {to_zero}",
        scaling.service,
        scaling.peak_ready,
        seconds(scaling.peak_at_s)
    )
}

/// `3.2 s` under ten seconds, `94 s` above: the precision a reader uses.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

/// One colour per service, in legend order; rps is black.
fn colour(index: usize) -> RGBColor {
    const COLOURS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    COLOURS[index % COLOURS.len()]
}

type DrawResult =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

fn draw(
    svg: &mut String,
    title: &str,
    rps: &[f64],
    timeline: &Timeline,
    scaling: &[ServiceScaling],
    load: Option<(f64, f64)>,
    until_s: f64,
) -> DrawResult {
    let until_s = if until_s > 0.0 { until_s } else { 1.0 };
    let services = timeline.services();
    let steps: Vec<Vec<(f64, f64)>> = services
        .iter()
        .map(|s| ready_steps(timeline, s, until_s))
        .collect();
    let rps_max = rps.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1;
    let pods_max = steps
        .iter()
        .flatten()
        .map(|&(_, ready)| ready)
        .fold(0.0, f64::max)
        .max(1.0)
        + 1.0;

    let lines = u32::try_from(scaling.len()).unwrap_or(u32::MAX).max(1);
    let height = PLOT_HEIGHT.saturating_add(20 + CALLOUT_HEIGHT.saturating_mul(lines));
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, notes) = root.split_vertically(PLOT_HEIGHT);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(50)
        .build_cartesian_2d(0.0..until_s, 0.0..rps_max)?
        .set_secondary_coord(0.0..until_s, 0.0..pods_max);
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .x_label_formatter(&|s| format!("{s:.0}"))
        .y_desc("requests per second")
        .y_label_formatter(&|r| format!("{r:.0}"))
        .draw()?;
    // Pods come whole: one label per pod count.
    chart
        .configure_secondary_axes()
        .y_desc("ready pods")
        .y_labels(pods_max as usize + 1)
        .y_label_formatter(&|n| format!("{n:.0}"))
        .draw()?;

    if let Some((start_s, end_s)) = load {
        let grey = RGBColor(150, 150, 150);
        for (at_s, label) in [(start_s, "load start"), (end_s, "load end")] {
            chart.draw_series(DashedLineSeries::new(
                [(at_s, 0.0), (at_s, rps_max)],
                6,
                4,
                grey.stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                label,
                (at_s, rps_max),
                ("sans-serif", 12).into_font().color(&grey),
            )))?;
        }
    }
    if !rps.is_empty() {
        // Each value is the second that ends at its x.
        let points = rps
            .iter()
            .enumerate()
            .map(|(i, &r)| ((i + 1) as f64, r))
            .filter(|&(at_s, _)| at_s <= until_s);
        chart
            .draw_series(LineSeries::new(points, BLACK.stroke_width(1)))?
            .label("requests/s")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    for (index, (service, points)) in services.iter().zip(&steps).enumerate() {
        let colour = colour(index);
        chart
            .draw_secondary_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(service.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        if let Some(s) = scaling.iter().find(|s| &s.service == service) {
            chart.draw_secondary_series(std::iter::once(Circle::new(
                (s.peak_at_s, f64::from(s.peak_ready)),
                4,
                colour.filled(),
            )))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    draw_callouts(&notes, &services, scaling)?;
    root.present()?;
    Ok(())
}

/// One callout line per service under the plot, in the service's colour.
fn draw_callouts(
    notes: &DrawingArea<SVGBackend<'_>, Shift>,
    services: &[String],
    scaling: &[ServiceScaling],
) -> DrawResult {
    for (line, s) in scaling.iter().enumerate() {
        let index = services
            .iter()
            .position(|name| name == &s.service)
            .unwrap_or(line);
        notes.draw(&Text::new(
            callout(s),
            (70, 10 + CALLOUT_HEIGHT as i32 * line as i32),
            ("sans-serif", 15).into_font().color(&colour(index)),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burst::timeline::{PodPhase, PodState};

    fn timeline() -> Timeline {
        let mut t = Timeline::new();
        let pod = |phase| PodState {
            service: "svc".to_owned(),
            phase,
        };
        t.pod_applied(1.0, "a", pod(PodPhase::Pending));
        t.pod_applied(2.0, "a", pod(PodPhase::Ready));
        t.pod_applied(3.0, "b", pod(PodPhase::Ready));
        t.pod_deleted(20.0, "a");
        t.pod_deleted(25.0, "b");
        t
    }

    #[test]
    fn ready_pods_are_drawn_as_steps() {
        assert_eq!(
            ready_steps(&timeline(), "svc", 30.0),
            vec![
                (0.0, 0.0),
                (2.0, 0.0),
                (2.0, 1.0),
                (3.0, 1.0),
                (3.0, 2.0),
                (20.0, 2.0),
                (20.0, 1.0),
                (25.0, 1.0),
                (25.0, 0.0),
                (30.0, 0.0),
            ]
        );
        assert_eq!(
            ready_steps(&timeline(), "svc", 2.5).last(),
            Some(&(2.5, 1.0))
        );
    }

    #[test]
    fn callouts_read_as_the_issue_asks() {
        let t = timeline();
        let scaling = t.scaling(0.5, Some(10.0));
        assert_eq!(
            callout(&scaling[0]),
            "svc: scale-up 1.5 s, peak 2 at 3.0 s, to zero 15 s"
        );
        let svg = render_svg(
            "burst & <watch>",
            &[1.0, 5.0, 3.0],
            &t,
            &scaling,
            Some((0.5, 10.0)),
            30.0,
        )
        .expect("an SVG");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("burst &amp; &lt;watch&gt;"), "{svg}");
    }
}
