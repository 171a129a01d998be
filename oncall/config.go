package oncall

import (
	"errors"
	"fmt"
	"time"

	"github.com/remediator/remediator/rules"
)

// FromConfig builds the schedules of a validated config: each schedule's
// time zone defaults to the calendar's, and `holidays: calendar` takes
// the calendar's holidays, workdays and working weekdays.
func FromConfig(cfg *rules.Config) (*Set, error) {
	people := make([]string, 0, len(cfg.People))
	for _, p := range cfg.People {
		people = append(people, p.ID)
	}
	specs := make([]Spec, 0, len(cfg.Schedules))
	var errs []error
	for i := range cfg.Schedules {
		sc := &cfg.Schedules[i]
		spec, err := specOf(sc, &cfg.Calendar)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))
			continue
		}
		specs = append(specs, spec)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("on-call schedules: %w", err)
	}
	return New(people, specs...)
}

// specOf turns a schedule's config into a Spec.
func specOf(sc *rules.ScheduleConfig, cal *rules.CalendarConfig) (Spec, error) {
	var errs []error
	zone := sc.Timezone
	if zone == "" {
		zone = cal.Timezone
	}
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return Spec{}, fmt.Errorf("timezone: %q is not a time zone (use an IANA name like Europe/Berlin)", zone)
	}
	spec := Spec{Name: sc.Name, Location: loc}

	dates := func(key string, list []string) []Date {
		var out []Date
		for _, s := range list {
			d, err := ParseDate(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			out = append(out, d)
		}
		return out
	}
	if sc.Holidays.FromCalendar {
		spec.Holidays = dates("calendar.holidays", cal.Holidays)
		spec.Workdays = dates("calendar.workdays", cal.Workdays)
		for _, name := range cal.Weekdays {
			wd, err := rules.Day(name).Weekday()
			if err != nil {
				errs = append(errs, fmt.Errorf("calendar.weekdays: %w", err))
				continue
			}
			spec.Weekdays = append(spec.Weekdays, wd)
		}
	} else {
		spec.Holidays = dates("holidays", sc.Holidays.Dates)
	}

	for i := range sc.Layers {
		l, err := layerOf(&sc.Layers[i], loc)
		if err != nil {
			errs = append(errs, fmt.Errorf("layer %q: %w", sc.Layers[i].Name, err))
			continue
		}
		spec.Layers = append(spec.Layers, l)
	}

	for i, o := range sc.Overrides {
		from, errFrom := time.Parse(time.RFC3339, o.From)
		to, errTo := time.Parse(time.RFC3339, o.To)
		if err := errors.Join(errFrom, errTo); err != nil {
			errs = append(errs, fmt.Errorf("override %d: %w", i+1, err))
			continue
		}
		spec.Overrides = append(spec.Overrides, Override{Person: o.Person, From: from, To: to})
	}
	return spec, errors.Join(errs...)
}

// layerOf turns a layer's config into a Layer.
func layerOf(lc *rules.LayerConfig, loc *time.Location) (Layer, error) {
	var errs []error
	l := Layer{Name: lc.Name, Members: lc.Members, PerShift: lc.PerShift}
	if lc.Rotation.Every != "" {
		days, err := lc.Rotation.Every.Days()
		errs = append(errs, err)
		l.Every = days
	}
	if lc.Rotation.Anchor != "" {
		a, err := lc.Rotation.Anchor.In(loc)
		errs = append(errs, err)
		l.Anchor = a
	}
	for _, r := range lc.Restrictions {
		w := Window{}
		for _, d := range r.Days {
			wd, err := d.Weekday()
			errs = append(errs, err)
			w.Days = append(w.Days, wd)
		}
		var err error
		w.From, err = r.From.Offset()
		errs = append(errs, err)
		w.To, err = r.To.Offset()
		errs = append(errs, err)
		l.Windows = append(l.Windows, w)
	}
	return l, errors.Join(errs...)
}
